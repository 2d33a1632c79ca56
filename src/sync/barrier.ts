// Barrier: `parties` waiters meet, round after round, across threads and processes. One 32-bit word
// holds the round (generation), the arrivals of this round and a broken bit, so that arriving, passing
// and breaking are single compare-and-swaps and a sleeper (futex on that word) can never miss a wake.
//
// A member that dies must not leave the others hanging: every member (a thread that created or opened
// the barrier, until it closes it) holds a robust "alive" mutex in its member slot. Waiters check the
// slots every 100 ms while they wait; an alive mutex whose owner died (EOWNERDEAD) breaks the barrier,
// and everyone waiting, or coming later, gets EBROKEN.

import { NdshmError, invalid } from '../errors.js';
import * as native from '../native.js';
import { checkBoolean, checkOptions } from '../options.js';
import { type SyncCreateOptions, SyncBlock, checkCreateOptions } from './block.js';
import type { SyncHandle } from './handle.js';
import * as layout from './layout.js';
import { type Wait, abortedError, limits, timeoutError, waitAsync, waitWithSignal } from './waiter.js';

export interface BarrierCreateOptions extends SyncCreateOptions {
  /** How many member slots (threads that have it open at once). Default max(2 × parties, parties + 8). */
  maxMembers?: number;
  /** Take a member slot (this thread's death then breaks the barrier). Default true. */
  member?: boolean;
}

export interface BarrierOpenOptions {
  /** Take a member slot. Default true. */
  member?: boolean;
}

export interface BarrierWaitOptions {
  /** Give up after this many milliseconds: ETIMEDOUT here, and the barrier breaks for the others. */
  timeoutMs?: number;
  /** wait() only: give up when it aborts (EABORTED here; the barrier breaks for the others). */
  signal?: AbortSignal;
}

const brokenBit = 0x80000000 | 0;
const genOf = (w: number): number => (w >>> 16) & 0x7fff;
const arrivedOf = (w: number): number => w & 0xffff;
const i = {
  state: 0,
  parties: (layout.barrier.parties - layout.barrier.state) / 4,
  slotCount: (layout.barrier.slotCount - layout.barrier.state) / 4,
  reason: (layout.barrier.reason - layout.barrier.state) / 4,
  pid: (layout.barrier.pid - layout.barrier.state) / 4,
};
const checkEveryMs = 100;
const spinLoads = 200;
const wakeAll = 0x7fffffff;

function checkParties(parties: unknown): number {
  if (typeof parties !== 'number' || !Number.isInteger(parties) || parties < 1 || parties > layout.barrier.maxParties) {
    throw invalid(`Barrier.create: parties must be an integer from 1 to ${layout.barrier.maxParties}, got ${String(parties)}`);
  }
  return parties;
}

export class Barrier implements Disposable {
  #block: SyncBlock | undefined;
  readonly #ops: native.SyncOps;
  readonly #name: string;
  readonly #handle: SyncHandle;
  readonly #words: Int32Array;
  readonly #parties: number;
  readonly #slotCount: number;
  #slot = -1;
  readonly #waits = new Set<Wait>();

  private constructor(block: SyncBlock, parties: number, slotCount: number) {
    this.#block = block;
    this.#ops = block.ops;
    this.#name = block.name;
    this.#handle = block.handle;
    this.#words = new Int32Array(block.buffer, layout.barrier.state, 16);
    this.#parties = parties;
    this.#slotCount = slotCount;
  }

  /** Creates a barrier for `parties` waiters in a new segment, owned by this thread. */
  static create(parties: number, options?: BarrierCreateOptions): Barrier {
    const opts = checkCreateOptions(options, ['maxMembers', 'member'], 'Barrier.create');
    const n = checkParties(parties);
    const member = checkBoolean(opts.member, 'member', true);
    const slots = opts.maxMembers ?? Math.min(layout.barrier.maxSlots, Math.max(2 * n, n + 8));
    if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1 || slots > layout.barrier.maxSlots) {
      throw invalid(`Barrier.create: maxMembers must be an integer from 1 to ${layout.barrier.maxSlots}, got ${String(slots)}`);
    }
    const bodyLength = layout.barrier.baseBodyLength + slots * layout.barrier.slotSize;
    const block = SyncBlock.create(layout.Kind.Barrier, bodyLength, opts, -1, (b) => {
      const words = new Int32Array(b.buffer, layout.barrier.state, 16);
      words[i.parties] = n;
      words[i.slotCount] = slots;
      const r = b.ops.initSlots(layout.barrier.slots, slots);
      if (r !== 0) throw new NdshmError('ESYSTEM', `pthread_mutex_init failed (errno ${r})`, { segment: b.name, errno: r });
    });
    const barrier = new Barrier(block, n, slots);
    if (member) barrier.#join();
    return barrier;
  }

  /** Opens the barrier a handle names; by default this thread becomes a member (see docs/sync.md). */
  static open(handle: SyncHandle, options?: BarrierOpenOptions): Barrier {
    const opts = checkOptions(options, ['member'], 'Barrier.open');
    const member = checkBoolean(opts.member, 'member', true);
    let parties = 0;
    let slots = 0;
    const block = SyncBlock.open(
      handle,
      layout.Kind.Barrier,
      'Barrier.open',
      () => -1,
      (view, h, name) => {
        if (h.bodyLength < layout.barrier.baseBodyLength) throw layout.badHeader(name, `barrier body of ${h.bodyLength} bytes (64 needed)`);
        parties = view.getUint32(layout.barrier.parties, true);
        slots = view.getUint32(layout.barrier.slotCount, true);
        if (parties < 1 || parties > layout.barrier.maxParties) throw layout.badHeader(name, `parties ${parties} is out of range`);
        if (slots < 1 || slots > layout.barrier.maxSlots || layout.barrier.baseBodyLength + slots * layout.barrier.slotSize > h.bodyLength) {
          throw layout.badHeader(name, `${slots} member slots do not fit the body (${h.bodyLength} bytes)`);
        }
      },
    );
    const barrier = new Barrier(block, parties, slots);
    if (member) barrier.#join();
    return barrier;
  }

  get handle(): SyncHandle {
    return { ...this.#handle };
  }

  get name(): string {
    return this.#name;
  }

  get parties(): number {
    return this.#parties;
  }

  /** True when this object holds a member slot. */
  get member(): boolean {
    return this.#slot >= 0;
  }

  /** Waiters that have arrived in the current round. */
  get nWaiting(): number {
    this.#live('nWaiting');
    const w = Atomics.load(this.#words, i.state);
    return w < 0 ? 0 : arrivedOf(w);
  }

  get broken(): boolean {
    this.#live('broken');
    return Atomics.load(this.#words, i.state) < 0;
  }

  get closed(): boolean {
    return this.#block === undefined;
  }

  /**
   * Waits until `parties` waiters have arrived, blocking this thread; returns this waiter's arrival
   * index (0 to parties - 1; parties - 1 arrived last). EBROKEN if the barrier is or becomes broken.
   */
  waitSync(options?: Omit<BarrierWaitOptions, 'signal'>): number {
    this.#live('waitSync');
    const opts = checkOptions(options, ['timeoutMs'], 'waitSync');
    const { deadline } = limits(opts.timeoutMs, undefined, 'waitSync');
    const { index, gen, last } = this.#arrive();
    if (last || this.#spin(gen)) return index;
    let nextCheck = performance.now() + checkEveryMs;
    for (;;) {
      const w = Atomics.load(this.#words, i.state);
      if (genOf(w) !== gen) return index;
      if (w < 0) throw this.#brokenError();
      const now = performance.now();
      if (now >= deadline) {
        if (!this.#break(layout.BrokenReason.TimedOut, gen, process.pid)) return index;
        throw timeoutError('barrier waitSync', this.#name, opts.timeoutMs as number);
      }
      if (now >= nextCheck) {
        if (this.#checkMembers(gen)) return index;
        nextCheck = now + checkEveryMs;
      }
      this.#ops.wait(layout.barrier.state, w, Math.max(0, Math.min(deadline, nextCheck) - now));
    }
  }

  /** wait() without blocking this thread: the waiting happens on its native waiter thread. */
  async wait(options?: BarrierWaitOptions): Promise<number> {
    this.#live('wait');
    const opts = checkOptions(options, ['timeoutMs', 'signal'], 'wait');
    const { deadline, signal } = limits(opts.timeoutMs, opts.signal, 'wait');
    if (signal?.aborted) throw abortedError('barrier wait', this.#name, signal);
    const { index, gen, last } = this.#arrive();
    if (last || this.#spin(gen)) return index;
    let nextCheck = performance.now() + checkEveryMs;
    for (;;) {
      const w = Atomics.load(this.#words, i.state);
      if (genOf(w) !== gen) return index;
      if (w < 0) throw this.#brokenError();
      if (this.#block === undefined) {
        this.#break(layout.BrokenReason.ClosedWhileWaiting, gen, process.pid);
        throw new NdshmError('ECLOSED', `barrier "${this.#name}" was closed while wait() was pending`, { segment: this.#name });
      }
      const now = performance.now();
      if (now >= deadline) {
        if (!this.#break(layout.BrokenReason.TimedOut, gen, process.pid)) return index;
        throw timeoutError('barrier wait', this.#name, opts.timeoutMs as number);
      }
      if (now >= nextCheck) {
        if (this.#checkMembers(gen)) return index;
        nextCheck = now + checkEveryMs;
      }
      const wait = waitAsync(this.#ops, layout.barrier.state, w, native.SyncWaitMode.Value, Math.max(0, Math.min(deadline, nextCheck) - now), this.#name);
      this.#waits.add(wait);
      const outcome = await waitWithSignal(wait, signal);
      this.#waits.delete(wait);
      if (outcome === 'aborted') {
        if (!this.#break(layout.BrokenReason.Aborted, gen, process.pid)) return index;
        throw abortedError('barrier wait', this.#name, signal!);
      }
    }
  }

  /** Breaks the barrier: every waiter, now and later, gets EBROKEN. */
  abort(): void {
    this.#live('abort');
    this.#break(layout.BrokenReason.AbortCalled, undefined, process.pid);
  }

  /**
   * Leaves the barrier (frees this thread's member slot) and ends this object; the creator of a
   * non-persistent barrier removes its name. A wait() still pending breaks the barrier (ECLOSED here).
   */
  close(): void {
    const block = this.#block;
    if (block === undefined) return;
    this.#block = undefined;
    for (const w of this.#waits) w.cancel();
    this.#waits.clear();
    if (this.#slot >= 0) {
      this.#ops.leave(layout.barrier.slots, this.#slot);
      this.#slot = -1;
    }
    block.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(what: string): void {
    if (this.#block === undefined) throw new NdshmError('ECLOSED', `barrier "${this.#name}" is closed (${what})`, { segment: this.#name });
  }

  #join(): void {
    const slot = this.#ops.join(layout.barrier.slots, this.#slotCount, process.pid);
    if (slot >= 0) {
      this.#slot = slot;
      return;
    }
    const block = this.#block!;
    this.#block = undefined;
    block.release();
    throw slot === -1
      ? new NdshmError('ETOOMANY', `barrier "${this.#name}" has no free member slot (all ${this.#slotCount} taken; see maxMembers)`, {
          segment: this.#name,
        })
      : layout.badHeader(this.#name, 'a member slot does not hold a robust process-shared mutex');
  }

  #arrive(): { index: number; gen: number; last: boolean } {
    const words = this.#words;
    for (;;) {
      const w = Atomics.load(words, i.state);
      if (w < 0) throw this.#brokenError();
      const gen = genOf(w);
      const arrived = arrivedOf(w);
      const last = arrived + 1 >= this.#parties;
      const next = last ? ((gen + 1) & 0x7fff) << 16 : w + 1;
      if (Atomics.compareExchange(words, i.state, w, next) === w) {
        if (last) this.#ops.wake(layout.barrier.state, wakeAll);
        return { index: Math.min(arrived, this.#parties - 1), gen, last };
      }
    }
  }

  // A short spin before sleeping: on two or more CPUs the round often completes within a microsecond.
  #spin(gen: number): boolean {
    for (let k = 0; k < spinLoads; k++) {
      const w = Atomics.load(this.#words, i.state);
      if (genOf(w) !== gen) return true;
      if (w < 0) return false;
    }
    return false;
  }

  // Sets the broken bit unless round `gen` completed meanwhile (then false: the caller passed).
  #break(reason: layout.BrokenReason, gen: number | undefined, pid: number): boolean {
    const words = this.#words;
    for (;;) {
      const w = Atomics.load(words, i.state);
      if (gen !== undefined && genOf(w) !== gen) return false;
      if (w < 0) return true;
      if (Atomics.compareExchange(words, i.reason, 0, reason) === 0) Atomics.store(words, i.pid, pid);
      if (Atomics.compareExchange(words, i.state, w, w | brokenBit) === w) break;
    }
    this.#ops.wake(layout.barrier.state, wakeAll);
    return true;
  }

  // Looks for a dead member; breaks the barrier if there is one. True when round `gen` completed.
  #checkMembers(gen: number): boolean {
    const dead = this.#ops.scan(layout.barrier.slots, this.#slotCount);
    if (dead === -1) return false;
    if (dead === -2) throw layout.badHeader(this.#name, 'a member slot does not hold a robust process-shared mutex');
    const pid = new DataView(this.#words.buffer).getUint32(layout.barrier.slots + dead * layout.barrier.slotSize + layout.barrier.slotPid, true);
    if (!this.#break(layout.BrokenReason.MemberDied, gen, pid)) return true;
    throw this.#brokenError();
  }

  #brokenError(): NdshmError {
    const reason = Atomics.load(this.#words, i.reason) as layout.BrokenReason;
    const pid = Atomics.load(this.#words, i.pid) >>> 0;
    const why: Record<number, string> = {
      [layout.BrokenReason.TimedOut]: `a wait timed out (pid ${pid})`,
      [layout.BrokenReason.Aborted]: `a wait was aborted (pid ${pid})`,
      [layout.BrokenReason.MemberDied]: `member pid ${pid} ended without closing it (killed, crashed, or exited without close())`,
      [layout.BrokenReason.AbortCalled]: `abort() was called (pid ${pid})`,
      [layout.BrokenReason.ClosedWhileWaiting]: `a member closed it while waiting (pid ${pid})`,
    };
    return new NdshmError('EBROKEN', `barrier "${this.#name}" is broken: ${why[reason] ?? 'reason unknown'}`, { segment: this.#name });
  }
}
