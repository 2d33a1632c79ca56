// Counter: a 64-bit counter in shared memory (PyNitride's Counter, process-wide). increment() is one
// Atomics.add on a BigInt64Array over the segment's SharedArrayBuffer; the incrementer whose add
// crosses a multiple of printEvery logs it, so each crossing is logged exactly once in the whole host.

import { NdshmError, invalid } from '../errors.js';
import * as native from '../native.js';
import { checkOptions } from '../options.js';
import { type SyncCreateOptions, SyncBlock, checkCreateOptions } from './block.js';
import type { SyncHandle } from './handle.js';
import * as layout from './layout.js';
import { type Wait, abortedError, limits, remaining, timeoutError, waitAsync, waitWithSignal } from './waiter.js';

export interface CounterCreateOptions extends SyncCreateOptions {
  /** Log a message each time the count crosses a multiple of this (a positive integer). Default: never. */
  printEvery?: number;
  /** The message; `{}` and `{count}` are replaced by the count. Default `'Count: {}'`. At most 1024 UTF-8 bytes. */
  message?: string;
  /** Where messages go, in this thread. Default: a line on process.stderr. */
  log?: (line: string) => void;
}

export interface CounterOpenOptions {
  /** Where this thread's messages go. Default: a line on process.stderr. */
  log?: (line: string) => void;
}

export interface CounterWaitOptions {
  timeoutMs?: number;
  /** waitFor() only. */
  signal?: AbortSignal;
}

const defaultMessage = 'Count: {}';
const defaultLog = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const seqIndex = 0;
const waitersIndex = 1;

function checkLog(log: unknown, where: string): (line: string) => void {
  if (log === undefined) return defaultLog;
  if (typeof log !== 'function') throw invalid(`${where}: log must be a function (line: string) => void`);
  return log as (line: string) => void;
}

function checkPrintEvery(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`Counter.create: printEvery must be a positive integer, got ${typeof value === 'number' ? value : typeof value}`);
  }
  return value;
}

export class Counter implements Disposable {
  #block: SyncBlock | undefined;
  readonly #ops: native.SyncOps;
  readonly #name: string;
  readonly #handle: SyncHandle;
  readonly #value: BigInt64Array;
  readonly #words: Int32Array;
  readonly #printEvery: number;
  readonly #message: string;
  readonly #log: (line: string) => void;
  readonly #waits = new Set<Wait>();

  private constructor(block: SyncBlock, printEvery: number, message: string, log: (line: string) => void) {
    this.#block = block;
    this.#ops = block.ops;
    this.#name = block.name;
    this.#handle = block.handle;
    this.#value = new BigInt64Array(block.buffer, layout.counter.value, 1);
    this.#words = new Int32Array(block.buffer, layout.counter.seq, 2);
    this.#printEvery = printEvery;
    this.#message = message;
    this.#log = log;
  }

  /** Creates a counter at 0 in a new segment, owned by this thread. */
  static create(options?: CounterCreateOptions): Counter {
    const opts = checkCreateOptions(options, ['printEvery', 'message', 'log'], 'Counter.create');
    const printEvery = checkPrintEvery(opts.printEvery);
    const message = opts.message ?? defaultMessage;
    if (typeof message !== 'string') throw invalid(`Counter.create: message must be a string, got ${typeof message}`);
    const bytes = new TextEncoder().encode(message);
    if (bytes.length > layout.counter.maxMessageBytes) {
      throw invalid(`Counter.create: message is ${bytes.length} bytes of UTF-8, more than ${layout.counter.maxMessageBytes}`);
    }
    const log = checkLog(opts.log, 'Counter.create');
    const block = SyncBlock.create(layout.Kind.Counter, layout.counter.baseBodyLength + bytes.length, opts, -1, (b) => {
      const v = new DataView(b.buffer);
      v.setBigInt64(layout.counter.printEvery, BigInt(printEvery), true);
      v.setUint32(layout.counter.messageLength, bytes.length, true);
      new Uint8Array(b.buffer, layout.counter.message, bytes.length).set(bytes);
    });
    return new Counter(block, printEvery, message, log);
  }

  /** Opens the counter a handle names; printEvery and the message come from the segment. */
  static open(handle: SyncHandle, options?: CounterOpenOptions): Counter {
    const opts = checkOptions(options, ['log'], 'Counter.open');
    const log = checkLog(opts.log, 'Counter.open');
    let printEvery = 0;
    let message = '';
    const block = SyncBlock.open(
      handle,
      layout.Kind.Counter,
      'Counter.open',
      () => -1,
      (view, h, name) => {
        if (h.bodyLength < layout.counter.baseBodyLength) throw layout.badHeader(name, `counter body of ${h.bodyLength} bytes (128 needed)`);
        const every = view.getBigInt64(layout.counter.printEvery, true);
        if (every < 0n || every > BigInt(Number.MAX_SAFE_INTEGER)) throw layout.badHeader(name, `printEvery ${every} is out of range`);
        const length = view.getUint32(layout.counter.messageLength, true);
        if (length > layout.counter.maxMessageBytes || layout.counter.baseBodyLength + length > h.bodyLength) {
          throw layout.badHeader(name, `message length ${length} does not fit the body (${h.bodyLength} bytes)`);
        }
        printEvery = Number(every);
        message = new TextDecoder().decode(new Uint8Array(view.buffer, layout.counter.message, length));
      },
    );
    return new Counter(block, printEvery, message, log);
  }

  get handle(): SyncHandle {
    return { ...this.#handle };
  }

  get name(): string {
    return this.#name;
  }

  get printEvery(): number {
    return this.#printEvery;
  }

  get message(): string {
    return this.#message;
  }

  get closed(): boolean {
    return this.#block === undefined;
  }

  /** The current count (exact up to 2^53; the cell is a signed 64-bit integer). */
  get value(): number {
    this.#live('value');
    return Number(Atomics.load(this.#value, 0));
  }

  /** The current count as a bigint (all 64 bits). */
  get bigValue(): bigint {
    this.#live('bigValue');
    return Atomics.load(this.#value, 0);
  }

  /**
   * Adds `n` (a safe integer, default 1) atomically and returns the new count. If the add crossed a
   * multiple of printEvery, this call logs the message (once, however many multiples it crossed).
   */
  increment(n = 1): number {
    if (this.#block === undefined) this.#live('increment');
    let before: number;
    if (n === 1) {
      before = Number(Atomics.add(this.#value, 0, 1n));
    } else {
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalid(`increment: n must be a safe integer, got ${String(n)}`, this.#name);
      before = Number(Atomics.add(this.#value, 0, BigInt(n)));
    }
    const after = before + n;
    const every = this.#printEvery;
    if (every > 0 && n > 0 && Math.floor(after / every) !== Math.floor(before / every)) {
      this.#log(this.#message.replace(/\{(count)?\}/g, String(after)));
    }
    if (Atomics.load(this.#words, waitersIndex) !== 0) this.#wakeWaiters();
    return after;
  }

  /**
   * increment(n) without returning the count: with no printEvery, no 64-bit result has to be turned
   * into a number, which makes hot loops faster (docs/benchmarks.md). Milestones are logged the same.
   */
  add(n = 1): void {
    if (this.#block === undefined) this.#live('add');
    if (this.#printEvery > 0) {
      this.increment(n);
      return;
    }
    if (n === 1) {
      Atomics.add(this.#value, 0, 1n);
    } else {
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalid(`add: n must be a safe integer, got ${String(n)}`, this.#name);
      Atomics.add(this.#value, 0, BigInt(n));
    }
    if (Atomics.load(this.#words, waitersIndex) !== 0) this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    Atomics.add(this.#words, seqIndex, 1);
    this.#ops.wake(layout.counter.seq, 0x7fffffff);
  }

  /** Resolves with the count once it is at least `target` (waits off this thread). */
  async waitFor(target: number, options?: CounterWaitOptions): Promise<number> {
    this.#live('waitFor');
    const opts = checkOptions(options, ['timeoutMs', 'signal'], 'waitFor');
    if (typeof target !== 'number' || Number.isNaN(target)) throw invalid(`waitFor: target must be a number, got ${String(target)}`, this.#name);
    const { deadline, signal } = limits(opts.timeoutMs, opts.signal, 'waitFor');
    for (;;) {
      const now = this.value;
      if (now >= target) return now;
      if (signal?.aborted) throw abortedError('waitFor', this.#name, signal);
      Atomics.add(this.#words, waitersIndex, 1);
      try {
        const seq = Atomics.load(this.#words, seqIndex);
        const v = Number(Atomics.load(this.#value, 0));
        if (v >= target) return v;
        const left = remaining(deadline);
        if (left === 0) throw timeoutError('waitFor', this.#name, opts.timeoutMs as number);
        const wait = waitAsync(this.#ops, layout.counter.seq, seq, native.SyncWaitMode.Value, left, this.#name);
        this.#waits.add(wait);
        const outcome = await waitWithSignal(wait, signal);
        this.#waits.delete(wait);
        if (outcome === 'aborted') throw abortedError('waitFor', this.#name, signal!);
        if (outcome === 'cancelled' || this.#block === undefined) {
          throw new NdshmError('ECLOSED', `counter "${this.#name}" was closed while waitFor was pending`, { segment: this.#name });
        }
      } finally {
        Atomics.sub(this.#words, waitersIndex, 1);
      }
    }
  }

  /** Blocks this thread until the count is at least `target`; returns it. */
  waitForSync(target: number, options?: Omit<CounterWaitOptions, 'signal'>): number {
    this.#live('waitForSync');
    const opts = checkOptions(options, ['timeoutMs'], 'waitForSync');
    if (typeof target !== 'number' || Number.isNaN(target)) throw invalid(`waitForSync: target must be a number, got ${String(target)}`, this.#name);
    const { deadline } = limits(opts.timeoutMs, undefined, 'waitForSync');
    for (;;) {
      const now = this.value;
      if (now >= target) return now;
      Atomics.add(this.#words, waitersIndex, 1);
      try {
        const seq = Atomics.load(this.#words, seqIndex);
        const v = Number(Atomics.load(this.#value, 0));
        if (v >= target) return v;
        const left = remaining(deadline);
        if (left === 0) throw timeoutError('waitForSync', this.#name, opts.timeoutMs as number);
        this.#ops.wait(layout.counter.seq, seq, left);
      } finally {
        Atomics.sub(this.#words, waitersIndex, 1);
      }
    }
  }

  /** Ends this object (pending waitFor calls reject with ECLOSED); the creator removes the name. */
  close(): void {
    const block = this.#block;
    if (block === undefined) return;
    this.#block = undefined;
    for (const w of this.#waits) w.cancel();
    this.#waits.clear();
    block.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(what: string): void {
    if (this.#block === undefined) throw new NdshmError('ECLOSED', `counter "${this.#name}" is closed (${what})`, { segment: this.#name });
  }
}
