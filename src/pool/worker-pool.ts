// Process and thread pools: units go to workers (child processes or worker threads) as messages.
// Workers start on demand, up to `size`; each runs one unit at a time and holds at most one more, so
// that it never waits for the next message between units. A worker that ends (crash, kill -9,
// process.exit, an uncaught exception) fails only the unit it was running (EWORKERDIED); the unit it
// held is queued again, and a new worker takes its index when there is work. Idle workers do not keep
// this process alive.

import { randomBytes } from 'node:crypto';

import { NdshmError } from '../errors.js';
import type { SharedNDArray } from '../ndarray/array.js';
import type { Block } from '../ndarray/block.js';
import { cannotSend, packArgs, unpackResult } from './codec.js';
import { loadError, poolClosed, receiveError, taskError, workerDied } from './errors.js';
import type { FilledOptions } from './options.js';
import { PoolBase, type Unit } from './pool.js';
import type { DoneMessage, FromWorker, ToWorker } from './protocol.js';
import { taskLabel } from './task.js';
import { type WorkerHandle, spawnProcess, spawnThread } from './transport.js';

/** Units a worker holds at once: the one it runs and the next. */
const depth = 2;
/** Workers in a row that end before they are ready: then the queued units fail instead. */
const maxStartFailures = 3;

interface Slot {
  readonly index: number;
  handle: WorkerHandle;
  /** Units sent, in order; [0] is the running one. */
  readonly outstanding: Unit[];
  sent: number;
  ready: boolean;
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
  readonly sent: Map<string, Block>;
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
  #exits: (() => void)[] = [];

  /** @internal */
  constructor(kind: 'process' | 'thread', options: FilledOptions) {
    super();
    this.kind = kind;
    this.size = options.size;
    this.#options = options;
  }

  protected get workersGone(): boolean {
    return this.#slots.every((s) => s === undefined);
  }

  // ----- dispatch ------------------------------------------------------------------------------

  protected dispatch(unit: Unit): void {
    const sent = new Map<string, Block>();
    let calls: unknown[];
    try {
      calls = unit.calls.map((c) => packArgs(c, sent));
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
      this.#send(slot, unit);
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
      if (s.outstanding.length < depth && (best === undefined || s.outstanding.length < best.outstanding.length)) best = s;
    }
    for (let i = 0; i < this.size; i++) if (this.#slots[i] === undefined) return this.#spawn(i);
    return best;
  }

  #spawn(index: number): Slot {
    const info = { pool: this.#id, index, size: this.size, kind: this.kind };
    const slot: Slot = {
      index,
      handle: undefined as unknown as WorkerHandle,
      outstanding: [],
      sent: 0,
      ready: false,
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

  #send(slot: Slot, unit: Unit): void {
    const p = this.#pending.get(unit)!;
    const message: ToWorker = {
      t: 'run',
      id: unit.id,
      module: unit.task.module,
      name: unit.task.name,
      calls: p.calls,
      ...(slot.evict.length > 0 ? { evict: slot.evict } : {}),
      ...(slot.adopted.length > 0 ? { adopted: slot.adopted } : {}),
    };
    try {
      slot.handle.send(message);
    } catch (err) {
      unit.done([], cannotSend('a task argument', err));
      return;
    }
    slot.evict = [];
    slot.adopted = [];
    p.slot = slot;
    slot.outstanding.push(unit);
    if (++slot.sent >= this.#options.maxTasksPerWorker) slot.retiring = true;
    slot.handle.ref(true);
    for (const [key, block] of p.sent) this.#lend(block, key, slot);
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
          if (s.outstanding.length === 0) this.#flushNotes(s);
        }
        entry.slots.clear();
      });
    }
    l.slots.add(slot);
  }

  #flushNotes(slot: Slot): void {
    if ((slot.evict.length === 0 && slot.adopted.length === 0) || slot.exited) return;
    try {
      slot.handle.send({ t: 'note', evict: slot.evict, adopted: slot.adopted });
    } catch {
      // the worker is ending; its exit follows
    }
    slot.evict = [];
    slot.adopted = [];
  }

  // ----- from workers -------------------------------------------------------------------------

  #message(slot: Slot, m: FromWorker): void {
    if (m.t === 'ready') {
      slot.ready = true;
      this.#startFailures = 0;
      return;
    }
    if (m.t !== 'done') return; // 'fatal': the transport keeps it for the exit
    const at = slot.outstanding.findIndex((u) => u.id === m.id);
    if (at < 0) return;
    const [unit] = slot.outstanding.splice(at, 1);
    this.#settle(unit!, slot, m);
    if (slot.outstanding.length === 0) this.#idle(slot);
    this.#pump();
  }

  #settle(unit: Unit, slot: Slot, m: DoneMessage): void {
    if (m.cancelled === true) return unit.done([], poolClosed('the task was withdrawn before it started'));
    const p = this.#pending.get(unit)!;
    const where = ` in ${this.kind} worker ${slot.index} (pid ${slot.handle.pid})`;
    const made: SharedNDArray[] = [];
    let values: unknown[];
    try {
      values = m.values.map((v) => unpackResult(v, p.sent, slot.adopted, made));
    } catch (err) {
      for (const a of made) a.release();
      return unit.done([], err instanceof NdshmError ? err : taskError(taskLabel(unit.task), where, err));
    }
    let error: NdshmError | undefined;
    if (m.error !== undefined) {
      const cause = receiveError(m.error);
      error = m.load === true ? loadError(taskLabel(unit.task), where, cause) : taskError(taskLabel(unit.task), where, cause);
    }
    unit.done(values, error, made);
  }

  #idle(slot: Slot): void {
    slot.handle.ref(false);
    this.#flushNotes(slot);
    if (slot.retiring || (this.state !== 'open' && this.#queue.every((u) => u.settled))) this.#retire(slot);
  }

  #retire(slot: Slot): void {
    if (slot.exiting || slot.exited) return;
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
    if (this.#slots[slot.index] === slot) this.#slots[slot.index] = undefined;
    children.delete(slot.handle);
    const units = slot.outstanding.splice(0);
    const started = slot.ready;
    if (!started && !slot.exiting && this.state !== 'terminated') this.#startFailures++;
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
    if (at === 0) {
      if (kill) slot.handle.kill(); // its exit requeues the unit it held
    } else if (at > 0) {
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
