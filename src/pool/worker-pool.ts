// Process and thread pools: units go to workers (child processes or worker threads) as messages.
// Workers start on demand, up to `size`; each runs one unit at a time and holds a few more, so that
// it never waits for the next message between units (two while its units take a millisecond or more,
// eight while they are quicker: a long task never holds more than one other back). Units sent to a
// worker in one turn of the event loop travel in one message. A worker that ends (crash, kill -9,
// process.exit, an uncaught exception) fails only the unit it was running (EWORKERDIED); the units it
// held are queued again, and a new worker takes its index when there is work. Idle workers do not
// keep this process alive.

import { randomBytes } from 'node:crypto';

import { NdshmError } from '../errors.js';
import type { SharedNDArray } from '../ndarray/array.js';
import type { Block } from '../ndarray/block.js';
import { cannotSend, packArgs, unpackResult } from './codec.js';
import { loadError, poolClosed, receiveError, taskError, workerDied } from './errors.js';
import type { FilledOptions } from './options.js';
import { PoolBase, type Unit } from './pool.js';
import type { FromWorker, RunMessage, UnitMessage, UnitResult } from './protocol.js';
import { taskLabel } from './task.js';
import { type WorkerHandle, spawnProcess, spawnThread } from './transport.js';

/** Units a worker holds at once while its units are slow (≥ 1 ms), and while they are quick. */
const slowDepth = 2;
const quickDepth = 8;
/** Workers in a row that end before they are ready: then the queued units fail instead. */
const maxStartFailures = 3;

interface Slot {
  readonly index: number;
  handle: WorkerHandle;
  /** Units given to this worker, in order; [0] is the running one (once sent). */
  readonly outstanding: Unit[];
  /** The tail of `outstanding` not sent yet (sent at the end of this turn). */
  outbox: UnitMessage[];
  flushing: boolean;
  /** Task numbers this worker knows, and those to tell it with the next message. */
  readonly tasks: Map<string, number>;
  defs: [number, string, string][];
  sent: number;
  /** Recent time per unit in the worker (ms, moving average): sets how many units it may hold. */
  ms: number;
  ready: boolean;
  /** Callers of start() waiting for this worker to be ready. */
  readonly waiting: { resolve(): void; reject(err: NdshmError): void }[];
  retiring: boolean;
  exiting: boolean;
  exited: boolean;
  evict: string[];
  adopted: string[];
}

interface Pending {
  /** Packed argument lists. */
  readonly calls: unknown[];
  /** The caller's blocks lent to the task, by cache key. */
  readonly sent: Map<string, Block> | undefined;
  slot: Slot | undefined;
}

// Child processes are killed when this process exits (they would notice the closed channel anyway,
// but only once their running task returns).
const children = new Set<WorkerHandle>();
let exitHook = false;

export class WorkerPool extends PoolBase {
  readonly kind: 'process' | 'thread';
  readonly size: number;
  readonly #options: FilledOptions;
  readonly #id = randomBytes(6).toString('base64url');
  readonly #slots: (Slot | undefined)[] = [];
  readonly #queue: Unit[] = [];
  readonly #pending = new WeakMap<Unit, Pending>();
  /** For each caller block lent to workers: the workers that may have it cached, and its key. */
  readonly #lent = new WeakMap<Block, { key: string; slots: Set<Slot> }>();
  #startFailures = 0;
  /** Indices that have had a worker (a later one there is a replacement). */
  readonly #spawned = new Set<number>();
  #exits: (() => void)[] = [];

  /** @internal */
  constructor(kind: 'process' | 'thread', options: FilledOptions) {
    super();
    this.kind = kind;
    this.size = options.size;
    this.#options = options;
  }

  /**
   * Starts every worker that is not running (they start on demand otherwise) and resolves once each is
   * ready: loaded, with its initializer run. EWORKERDIED if one ends first, EPOOLCLOSED unless open.
   */
  start(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(poolClosed(`start: the pool is ${this.state}`));
    const waits: Promise<void>[] = [];
    for (let i = 0; i < this.size; i++) {
      let slot = this.#slots[i];
      if (slot === undefined || slot.exiting || slot.exited) {
        try {
          slot = this.#spawn(i);
        } catch (err) {
          return Promise.reject(new NdshmError('EWORKERDIED', `a ${this.kind} pool worker could not be started: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        }
      }
      const s = slot;
      if (!s.ready) {
        s.handle.ref(true); // until it is ready: a script awaiting start() does not end meanwhile
        waits.push(new Promise<void>((resolve, reject) => s.waiting.push({ resolve, reject })));
      }
    }
    return Promise.all(waits).then(() => undefined);
  }

  protected get workersGone(): boolean {
    return this.#slots.every((s) => s === undefined);
  }

  // ----- dispatch ------------------------------------------------------------------------------

  protected dispatch(unit: Unit): void {
    let sent: Map<string, Block> | undefined;
    let calls: unknown[];
    try {
      calls = unit.calls.map((c) => packArgs(c, () => (sent ??= new Map())));
    } catch (err) {
      unit.done([], cannotSend('a task argument', err));
      return;
    }
    this.#pending.set(unit, { calls, sent, slot: undefined });
    this.#queue.push(unit);
    this.#pump();
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const unit = this.#queue[0]!;
      if (unit.settled) {
        this.#queue.shift();
        continue;
      }
      let slot: Slot | undefined;
      try {
        slot = this.#pick();
      } catch (err) {
        // new Worker() refused its options (execArgv, resourceLimits...), or fork() failed at once
        const error = new NdshmError('EWORKERDIED', `a ${this.kind} pool worker could not be started: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        for (const u of this.#queue.splice(0)) if (!u.settled) u.done([], error);
        return;
      }
      if (slot === undefined) return;
      this.#queue.shift();
      this.#give(slot, unit);
    }
  }

  #usable(s: Slot | undefined): s is Slot {
    return s !== undefined && !s.retiring && !s.exiting && !s.exited;
  }

  #pick(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.#slots) {
      if (!this.#usable(s)) continue;
      if (s.outstanding.length === 0) return s;
      const depth = s.ms < 1 ? quickDepth : slowDepth;
      if (s.outstanding.length < depth && (best === undefined || s.outstanding.length < best.outstanding.length)) best = s;
    }
    for (let i = 0; i < this.size; i++) if (this.#slots[i] === undefined) return this.#spawn(i);
    return best;
  }

  #spawn(index: number): Slot {
    const info = {
      pool: this.#id,
      index,
      size: this.size,
      kind: this.kind,
      ...(this.#options.init === undefined ? {} : { init: this.#options.init }),
      ...(this.#spawned.has(index) ? { replacement: true } : {}),
    };
    this.#spawned.add(index);
    const slot: Slot = {
      index,
      handle: undefined as unknown as WorkerHandle,
      outstanding: [],
      outbox: [],
      flushing: false,
      tasks: new Map(),
      defs: [],
      sent: 0,
      ms: Infinity,
      ready: false,
      waiting: [],
      retiring: false,
      exiting: false,
      exited: false,
      evict: [],
      adopted: [],
    };
    const events = { message: (m: FromWorker) => this.#message(slot, m), exit: (how: string, cause: unknown) => this.#exit(slot, how, cause) };
    slot.handle = this.kind === 'process' ? spawnProcess(info, this.#options, events) : spawnThread(info, this.#options, events);
    slot.handle.ref(false);
    this.#slots[index] = slot;
    if (this.kind === 'process') {
      children.add(slot.handle);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => {
          for (const c of children) c.kill();
        });
      }
    }
    return slot;
  }

  #give(slot: Slot, unit: Unit): void {
    const p = this.#pending.get(unit)!;
    const key = `${unit.task.module}\n${unit.task.name}`;
    let task = slot.tasks.get(key);
    if (task === undefined) {
      task = slot.tasks.size;
      slot.tasks.set(key, task);
      slot.defs.push([task, unit.task.module, unit.task.name]);
    }
    p.slot = slot;
    slot.outstanding.push(unit);
    slot.outbox.push({ id: unit.id, task, calls: p.calls });
    if (++slot.sent >= this.#options.maxTasksPerWorker) slot.retiring = true;
    slot.handle.ref(true);
    if (p.sent !== undefined) for (const [k, block] of p.sent) this.#lend(block, k, slot);
    if (!slot.flushing) {
      slot.flushing = true;
      queueMicrotask(() => this.#flush(slot));
    }
  }

  // Sends what this turn gave the worker (and the notes it has not had), in one message. A unit whose
  // arguments cannot be cloned fails alone (EINVAL); the others go.
  #flush(slot: Slot): void {
    slot.flushing = false;
    if (slot.exited || (slot.outbox.length === 0 && slot.evict.length === 0 && slot.adopted.length === 0)) return;
    const units = slot.outbox;
    const message: RunMessage = {
      t: 'run',
      units,
      ...(slot.defs.length > 0 ? { defs: slot.defs } : {}),
      ...(slot.evict.length > 0 ? { evict: slot.evict } : {}),
      ...(slot.adopted.length > 0 ? { adopted: slot.adopted } : {}),
    };
    slot.outbox = [];
    try {
      slot.handle.send(message);
    } catch {
      this.#sendOneByOne(slot, message);
    }
    slot.defs = [];
    slot.evict = [];
    slot.adopted = [];
  }

  #sendOneByOne(slot: Slot, message: RunMessage): void {
    try {
      slot.handle.send({ ...message, units: [] });
    } catch {
      return; // the worker is ending: its exit requeues the units
    }
    for (const u of message.units) {
      try {
        slot.handle.send({ t: 'run', units: [u] });
      } catch (err) {
        const at = slot.outstanding.findIndex((x) => x.id === u.id);
        if (at < 0) continue;
        const [unit] = slot.outstanding.splice(at, 1);
        unit!.done([], cannotSend('a task argument', err));
      }
    }
    if (slot.outstanding.length === 0) this.#idle(slot);
  }

  // The caller's release of an array tells the workers that cached it to let it go.
  #lend(block: Block, key: string, slot: Slot): void {
    let l = this.#lent.get(block);
    if (l === undefined) {
      l = { key, slots: new Set() };
      this.#lent.set(block, l);
      const entry = l;
      block.onRelease(() => {
        for (const s of entry.slots) {
          if (s.exited || s.exiting) continue;
          s.evict.push(entry.key.endsWith(':r') ? entry.key.slice(0, -2) : entry.key);
          if (!s.flushing) {
            s.flushing = true;
            queueMicrotask(() => this.#flush(s));
          }
        }
        entry.slots.clear();
      });
    }
    l.slots.add(slot);
  }

  // ----- from workers -------------------------------------------------------------------------

  #message(slot: Slot, m: FromWorker): void {
    if (m.t === 'ready') {
      slot.ready = true;
      this.#startFailures = 0;
      for (const w of slot.waiting.splice(0)) w.resolve();
      if (slot.outstanding.length === 0) slot.handle.ref(false);
      return;
    }
    if (m.t !== 'done') return; // 'fatal': the transport keeps it for the exit
    for (const r of m.results) {
      const at = slot.outstanding.findIndex((u) => u.id === r.id);
      if (at < 0) continue;
      const [unit] = slot.outstanding.splice(at, 1);
      slot.ms = slot.ms === Infinity ? r.ms : 0.75 * slot.ms + 0.25 * r.ms;
      this.#settle(unit!, slot, r);
    }
    if (slot.outstanding.length === 0) this.#idle(slot);
    this.#pump();
  }

  #settle(unit: Unit, slot: Slot, r: UnitResult): void {
    if (r.cancelled === true) return unit.done([], poolClosed('the task was withdrawn before it started'));
    const p = this.#pending.get(unit)!;
    const where = ` in ${this.kind} worker ${slot.index} (pid ${slot.handle.pid})`;
    const made: SharedNDArray[] = [];
    let values: unknown[];
    try {
      values = r.values.map((v) => unpackResult(v, p.sent, slot.adopted, made));
    } catch (err) {
      for (const a of made) a.release();
      return unit.done([], err instanceof NdshmError ? err : taskError(taskLabel(unit.task), where, err));
    }
    let error: NdshmError | undefined;
    if (r.error !== undefined) {
      const cause = receiveError(r.error);
      error = r.load === true ? loadError(taskLabel(unit.task), where, cause) : taskError(taskLabel(unit.task), where, cause);
    }
    unit.done(values, error, made);
  }

  #idle(slot: Slot): void {
    slot.handle.ref(false);
    if (slot.adopted.length > 0 && !slot.flushing) {
      slot.flushing = true;
      queueMicrotask(() => this.#flush(slot));
    }
    if (slot.retiring || (this.state !== 'open' && this.#queue.every((u) => u.settled))) this.#retire(slot);
  }

  #retire(slot: Slot): void {
    if (slot.exiting || slot.exited) return;
    this.#flush(slot);
    slot.exiting = true;
    slot.handle.ref(true); // until it has gone: join() resolves then, and a script does not end before
    try {
      slot.handle.send({ t: 'exit' });
    } catch {
      slot.handle.kill();
    }
  }

  #exit(slot: Slot, how: string, cause: unknown): void {
    slot.exited = true;
    if (slot.waiting.length > 0) {
      const err = new NdshmError('EWORKERDIED', `${this.kind} pool worker ${slot.index} ended (${how}) before it was ready`, { cause });
      for (const w of slot.waiting.splice(0)) w.reject(err);
    }
    if (this.#slots[slot.index] === slot) this.#slots[slot.index] = undefined;
    children.delete(slot.handle);
    const units = slot.outstanding.splice(0);
    const sent = units.length - slot.outbox.length; // the first `sent` reached the worker
    slot.outbox = [];
    const started = slot.ready && sent > 0;
    if (!slot.ready && !slot.exiting && this.state !== 'terminated') this.#startFailures++;
    const where = ` in ${this.kind} worker ${slot.index} (pid ${slot.handle.pid})`;
    const requeue: Unit[] = [];
    units.forEach((u, i) => {
      if (u.settled) return;
      if (i === 0 && started) {
        u.done([], this.state === 'terminated' ? poolClosed('the pool was terminated') : workerDied(taskLabel(u.task), where, how, cause));
      } else {
        requeue.push(u); // it never started: another worker runs it
      }
    });
    this.#queue.unshift(...requeue);
    if (this.#startFailures >= maxStartFailures) {
      this.#startFailures = 0;
      const error = new NdshmError('EWORKERDIED', `${this.kind} pool workers end before they start (the last: ${how})`, cause === undefined ? {} : { cause });
      for (const u of this.#queue.splice(0)) if (!u.settled) u.done([], error);
    }
    for (const wake of this.#exits.splice(0)) wake();
    if (this.state !== 'terminated') this.#pump();
    this.settledOne();
  }

  // ----- withdrawals and the end --------------------------------------------------------------

  protected withdraw(unit: Unit, kill: boolean): void {
    const p = this.#pending.get(unit);
    const slot = p?.slot;
    if (slot === undefined || slot.exited) return; // still queued: #pump skips settled units
    const at = slot.outstanding.indexOf(unit);
    if (at < 0) return;
    const unsent = slot.outbox.findIndex((u) => u.id === unit.id);
    if (unsent >= 0) {
      slot.outbox.splice(unsent, 1);
      slot.outstanding.splice(at, 1);
      if (slot.outstanding.length === 0) this.#idle(slot);
    } else if (at === 0) {
      if (kill) slot.handle.kill(); // its exit requeues the units it held
    } else {
      try {
        slot.handle.send({ t: 'cancel', id: unit.id });
      } catch {
        // ending anyway
      }
    }
  }

  protected closing(): void {
    if (this.#queue.some((u) => !u.settled)) return;
    for (const s of this.#slots) if (s !== undefined && s.outstanding.length === 0) this.#retire(s);
  }

  protected async kill(): Promise<void> {
    this.#queue.length = 0;
    for (const s of this.#slots) {
      if (s === undefined) continue;
      s.handle.ref(true); // until its exit is seen: terminate() resolves then
      s.handle.kill();
    }
    while (!this.workersGone) await new Promise<void>((wake) => this.#exits.push(wake));
  }
}
