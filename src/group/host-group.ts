// HostGroup: the processes and threads of one computation on this host, as pyGSTi's host_comm is
// (an MPI communicator split by host), without MPI. Members rendezvous by name over one small sync
// segment (layout.ts); every collective is one round of a src/sync Barrier, with the values it
// carries written beforehand into the member's record of the exchange area (two generations, so that
// a member can write its next record while a slow one still reads the last round's).
//
// A member is a JavaScript thread. From its join until close() it holds a robust "alive" mutex in its
// rank's slot, and a member slot of the barrier: when its thread ends without close() (kill -9, a
// crash, process.exit(), worker.terminate()), the others' collectives fail with EPEERDIED, not hang.



import { NdshmError, type NdshmErrorCode, invalid, isNdshmError, show } from '../errors.js';
import * as native from '../native.js';
import { checkOptions } from '../options.js';
import * as lifetime from '../segment/lifetime.js';
import { validateName } from '../segment/names.js';
import { isAlive } from '../segment/owner.js';
import { Segment } from '../segment/segment.js';
import { Barrier } from '../sync/barrier.js';
import { SyncBlock } from '../sync/block.js';
import type { SyncHandle } from '../sync/handle.js';
import * as syncLayout from '../sync/layout.js';
import { checkSignal, waitAsync, waitWithSignal } from '../sync/waiter.js';
import * as L from './layout.js';

export interface HostGroupJoinOptions {
  /** How many members the group has (1 to 1024). Every member must give the same size. */
  size: number;
  /** This member's rank, 0 to size - 1; by default ranks go in order of arrival. */
  rank?: number;
  /** Milliseconds to wait for all members to join: ETIMEDOUT after it. Default 60000. */
  timeout?: number;
  /** Default timeout (ms) of this member's collective calls; default: none (member deaths are still detected). */
  collectiveTimeout?: number;
  /** Give up joining when it aborts (EABORTED). */
  signal?: AbortSignal;
}

export interface HostGroupEnvOptions {
  /** Overrides NDSHM_GROUP_TIMEOUT. */
  timeout?: number;
  collectiveTimeout?: number;
  signal?: AbortSignal;
}

export interface CollectiveOptions {
  /** Milliseconds; default the group's collectiveTimeout. ETIMEDOUT here, and the group breaks for the others. */
  timeout?: number;
  /** Give up when it aborts: EABORTED here, and the group breaks for the others. */
  signal?: AbortSignal;
}

/** A JSON value (what broadcast and gather carry). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const defaultJoinTimeout = 60_000;
const checkEveryMs = 100;
const retryMs = 2;
const maxTimerMs = 0x7fffffff;
const myUid = process.getuid?.() ?? -1;
const wakeAll = 0x7fffffff;

/** Codes another member's error may carry here (anything else arriving in a record is EBADHEADER). */
const crossingCodes = new Set<string>([
  'EEXIST', 'ENOENT', 'ENOSPC', 'EACCES', 'EINVAL', 'ERANGE', 'EROFS', 'ECLOSED', 'ETRUNCATED', 'EBADHEADER', 'ETOOBIG',
  'ENOTSUP', 'EIO', 'EFTYPE', 'ESYSTEM', 'ETIMEDOUT', 'EABORTED', 'EBROKEN', 'ENOMEM', 'EPEERDIED',
]);

function checkMs(value: unknown, what: string, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw invalid(`${where}: ${what} must be a non-negative number of milliseconds, got ${show(value)}`);
  }
  return value;
}

function checkInt(value: unknown, what: string, lo: number, hi: number, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < lo || value > hi) {
    throw invalid(`${where}: ${what} must be an integer from ${lo} to ${hi}, got ${show(value)}`);
  }
  return value;
}

function checkGroupName(name: unknown, where: string): string {
  if (typeof name === 'string' && name.length > L.maxGroupName) {
    throw invalid(`${where}: group name ${show(name)} is too long (${name.length} characters; at most ${L.maxGroupName})`);
  }
  validateName(name, `${where}: group name`, L.maxGroupName);
  return name as string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One member's part of a collective call, as every member reads it after the round. */
export interface Reply {
  readonly rank: number;
  /** The member's value as JSON text; undefined when it sent none. */
  readonly json: string | undefined;
}

/** What a member puts into a collective call: a JSON text, nothing, or the error its part failed with. */
export type Contribution = { json?: string | undefined; error?: unknown };

interface Shared {
  readonly block: SyncBlock;
  readonly ops: native.SyncOps;
  readonly i32: Int32Array;
  readonly bytes: Uint8Array;
  readonly geometry: L.Geometry;
  readonly barrier: Barrier;
}

// ----- the rendezvous ---------------------------------------------------------------------------

interface Opened {
  readonly block: SyncBlock;
  readonly geometry: L.Geometry;
  readonly barrier: SyncHandle | Barrier;
}

function words(block: SyncBlock): Int32Array {
  return new Int32Array(block.buffer, 0, block.buffer.byteLength >>> 2);
}

function createGroupSegment(segment: string, size: number): Opened {
  const geometry = L.geometry(size);
  let barrier: Barrier | undefined;
  try {
    const block = SyncBlock.create(syncLayout.Kind.Group, geometry.bodyLength, { name: segment }, -1, (b) => {
      const v = new DataView(b.buffer);
      v.setUint32(L.body.size, size, true);
      v.setUint32(L.body.recordSize, L.recordSize, true);
      v.setUint32(L.body.broadcastSize, L.broadcastSize, true);
      const r = b.ops.initSlots(L.body.slots, size);
      if (r !== 0) throw new NdshmError('ESYSTEM', `pthread_mutex_init failed (errno ${r})`, { segment, errno: r });
      barrier = Barrier.create(size, { maxMembers: size });
      const h = barrier.handle;
      v.setUint32(L.body.barrierNameLength, h.name.length, true);
      v.setBigUint64(L.body.barrierId, BigInt(`0x${h.id}`), true);
      new Uint8Array(b.buffer, L.body.barrierName, L.maxBarrierName).set(Buffer.from(h.name, 'latin1'));
    });
    return { block, geometry, barrier: barrier! };
  } catch (err) {
    barrier?.close();
    throw err;
  }
}

type OpenResult = Opened | { retry: 'absent' | 'creating' | 'replaced' } | { stale: number };

function badGroup(name: string, why: string): NdshmError {
  return syncLayout.badHeader(name, `not a usable host group: ${why}`);
}

function openGroupSegment(segment: string, size: number, where: string): OpenResult {
  let id: bigint;
  let ino: number;
  let ownerAlive: boolean;
  try {
    const seg = Segment.open(segment);
    try {
      const bytes = new Uint8Array(seg.buffer);
      if (seg.byteLength < syncLayout.headerLength || bytes.subarray(0, 8).every((b) => b === 0)) return { retry: 'creating' };
      let h: syncLayout.HeaderFields;
      try {
        h = syncLayout.readHeader(bytes, seg.byteLength, segment, syncLayout.Kind.Group);
      } catch (err) {
        throw new NdshmError('EEXIST', `${where}: "${segment}" is taken by something that is not a host group (${(err as Error).message})`, {
          segment,
          cause: err,
        });
      }
      id = h.objectId;
      ino = seg.inode;
      ownerAlive = isAlive({ pid: h.ownerPid, startTime: h.ownerStart });
    } finally {
      seg.close();
    }
  } catch (err) {
    if (isNdshmError(err, 'ENOENT')) return { retry: 'absent' };
    throw err;
  }
  if (!ownerAlive) return { stale: ino };
  let found = 0;
  let barrier: SyncHandle | undefined;
  let block: SyncBlock;
  try {
    block = SyncBlock.open({ ndshm: 1, kind: 'group', name: segment, id: id.toString(16).padStart(16, '0') }, syncLayout.Kind.Group, where, () => -1, (view, h, name) => {
      found = view.getUint32(L.body.size, true);
      if (found < 1 || found > L.maxSize) throw badGroup(name, `size ${found} is out of range`);
      if (view.getUint32(L.body.recordSize, true) !== L.recordSize || view.getUint32(L.body.broadcastSize, true) !== L.broadcastSize) {
        throw badGroup(name, 'its exchange area has another geometry (another ndshm version?)');
      }
      if (h.bodyLength < L.geometry(found).bodyLength) throw badGroup(name, `body of ${h.bodyLength} bytes is too small for ${found} members`);
      const n = view.getUint32(L.body.barrierNameLength, true);
      if (n < 1 || n > 30) throw badGroup(name, 'barrier name length is out of range');
      const bname = Buffer.from(new Uint8Array(view.buffer, view.byteOffset + L.body.barrierName, n)).toString('latin1');
      const bid = view.getBigUint64(L.body.barrierId, true);
      if (bid === 0n) throw badGroup(name, 'barrier id is 0');
      try {
        validateName(bname);
      } catch {
        throw badGroup(name, 'barrier name is not a segment name');
      }
      barrier = { ndshm: 1, kind: 'barrier', name: bname, id: bid.toString(16).padStart(16, '0') };
    });
  } catch (err) {
    if (isNdshmError(err, 'ENOENT')) return { retry: 'replaced' };
    throw err;
  }
  if (found !== size) {
    block.release();
    throw invalid(`${where}: host group "${segment.slice(L.segmentPrefix.length)}" has ${found} members; this member asked for ${size}`, segment);
  }
  return { block, geometry: L.geometry(size), barrier: barrier! };
}

// ----- the group --------------------------------------------------------------------------------

let constructing = false;

/** @internal The collective exchange, for createSharedNdarray and cleanupSharedNdarray. */
export let exchange: (group: HostGroup, op: L.Op, arg: number, mine: Contribution, options: unknown, where: string) => Promise<Reply[]>;
/** @internal Whether collectives can still complete (open, not broken). */
export let usable: (group: HostGroup) => boolean;
/** @internal The host-wide tracked-memory words [current, peak] (undefined for a group of one). */
export let hostCounters: (group: HostGroup) => BigInt64Array | undefined;

export class HostGroup implements AsyncDisposable {
  /** The group's name (what the members joined). */
  readonly name: string;
  /** This member's rank, 0 to size - 1. */
  readonly rank: number;
  /** How many members the group has. */
  readonly size: number;
  #shared: Shared | undefined;
  #closed = false;
  #seq = 0;
  readonly #collectiveTimeout: number | undefined;
  // Collectives of one member run one after the other, in call order.
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  private constructor(name: string, rank: number, size: number, shared: Shared | undefined, collectiveTimeout: number | undefined) {
    if (!constructing) throw invalid('host groups are made by HostGroup.join() and HostGroup.fromEnv(), not by new');
    this.name = name;
    this.rank = rank;
    this.size = size;
    this.#shared = shared;
    this.#collectiveTimeout = collectiveTimeout;
  }

  static #make(name: string, rank: number, size: number, shared: Shared | undefined, collectiveTimeout: number | undefined): HostGroup {
    constructing = true;
    try {
      return new HostGroup(name, rank, size, shared, collectiveTimeout);
    } finally {
      constructing = false;
    }
  }

  /**
   * Joins the host group `name` of `size` members, waiting until all of them have joined. The first
   * to arrive creates the rendezvous segment; its name is removed once the group is complete.
   */
  static async join(name: string, options: HostGroupJoinOptions): Promise<HostGroup> {
    const where = 'HostGroup.join';
    checkGroupName(name, where);
    if (typeof options !== 'object' || options === null) throw invalid(`${where}: options with a size are required, e.g. { size: 4 }`);
    const opts = checkOptions(options, ['size', 'rank', 'timeout', 'collectiveTimeout', 'signal'], where);
    const size = checkInt(opts.size, 'size', 1, L.maxSize, where);
    const rank = opts.rank === undefined ? undefined : checkInt(opts.rank, 'rank', 0, size - 1, where);
    const timeout = checkMs(opts.timeout, 'timeout', where) ?? defaultJoinTimeout;
    const collectiveTimeout = checkMs(opts.collectiveTimeout, 'collectiveTimeout', where);
    const signal = checkSignal(opts.signal, where);
    if (signal?.aborted) throw new NdshmError('EABORTED', `${where}: joining host group "${name}" was aborted`, { cause: signal.reason });
    if (size === 1) return HostGroup.#make(name, 0, 1, undefined, collectiveTimeout);
    const deadline = performance.now() + timeout;
    const segment = L.segmentPrefix + name;
    let last = '';
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new NdshmError('EABORTED', `${where}: joining host group "${name}" was aborted`, { cause: signal.reason });
      if (attempt > 0 && performance.now() >= deadline) {
        throw new NdshmError('ETIMEDOUT', `${where}: host group "${name}" did not form within ${timeout} ms${last === '' ? '' : ` (${last})`}`, { segment });
      }
      let opened: OpenResult;
      try {
        opened = createGroupSegment(segment, size);
      } catch (err) {
        if (!isNdshmError(err, 'EEXIST')) throw err;
        opened = openGroupSegment(segment, size, where);
      }
      if ('stale' in opened) {
        // Its creator has ended without removing it (killed together with its watchdog): nobody can
        // complete it. Remove it if it is still the same object, and start over.
        lifetime.removeExpected(segment, { ino: opened.stale, uid: myUid === -1 ? undefined : myUid });
        last = 'removed a group segment whose creator had ended';
        continue;
      }
      if ('retry' in opened) {
        if (opened.retry !== 'absent') {
          last = opened.retry === 'creating' ? 'its segment was being created' : 'its segment was replaced';
          await sleep(retryMs);
        }
        continue;
      }
      const joined = await HostGroup.#joinOpened(name, opened, size, rank, deadline, timeout, signal, collectiveTimeout);
      if (joined instanceof HostGroup) return joined;
      last = joined;
      await sleep(retryMs);
    }
  }

  // Takes a rank in an opened group segment and waits for the group to form. A string: this segment
  // is in the way (a complete or broken group of the same name), try again.
  static async #joinOpened(
    name: string,
    opened: Opened,
    size: number,
    wanted: number | undefined,
    deadline: number,
    timeout: number,
    signal: AbortSignal | undefined,
    collectiveTimeout: number | undefined,
  ): Promise<HostGroup | string> {
    const { block, geometry } = opened;
    const ops = block.ops;
    const i32 = words(block);
    const segment = block.name;
    let barrier = opened.barrier instanceof Barrier ? opened.barrier : undefined;
    let rank = -1;
    let given = false;
    const giveUp = (): void => {
      if (given) return;
      given = true;
      if (rank >= 0) {
        Atomics.store(i32, (L.body.slots + rank * L.slot.size + L.slot.status) >> 2, L.Status.None);
        ops.leave(L.body.slots, rank);
      }
      barrier?.close();
      block.release();
    };
    try {
      const state = Atomics.load(i32, L.body.state >> 2);
      if ((state & (L.formedBit | L.brokenBit)) !== 0) {
        giveUp();
        return `a ${state < 0 ? 'broken' : 'complete'} group of that name is still in the way`;
      }
      const r = wanted === undefined ? ops.join(L.body.slots, size, process.pid) : ops.join(L.body.slots + wanted * L.slot.size, 1, process.pid);
      if (r === -2) throw badGroup(segment, 'a member slot does not hold a robust process-shared mutex');
      if (r === -1) {
        const now = Atomics.load(i32, L.body.state >> 2);
        if (wanted !== undefined && (now & (L.formedBit | L.brokenBit)) === 0) {
          const pid = Atomics.load(i32, (L.body.slots + wanted * L.slot.size + L.slot.pid) >> 2);
          giveUp();
          throw invalid(`HostGroup.join: rank ${wanted} of host group "${name}" is taken (by pid ${pid})`, segment);
        }
        giveUp();
        return wanted === undefined ? 'every rank was taken' : `rank ${wanted} was taken`;
      }
      rank = wanted ?? r;
      Atomics.store(i32, (L.body.slots + rank * L.slot.size + L.slot.status) >> 2, L.Status.Joined);
      if (barrier === undefined) {
        try {
          barrier = Barrier.open(opened.barrier as SyncHandle);
        } catch (err) {
          if (!isNdshmError(err, 'ENOENT') && !isNdshmError(err, 'ETOOMANY')) throw err;
          giveUp();
          return 'its creator has left';
        }
      }
      // Count this member in, unless the group broke meanwhile; the last one marks it formed.
      for (;;) {
        const w = Atomics.load(i32, L.body.state >> 2);
        if (w < 0) break;
        const n = (w & L.joinedMask) + 1;
        const next = (w & ~L.joinedMask) | n | (n >= size ? L.formedBit : 0);
        if (Atomics.compareExchange(i32, L.body.state >> 2, w, next) === w) {
          if (n >= size) ops.wake(L.body.state, wakeAll);
          break;
        }
      }
      const shared: Shared = { block, ops, i32, bytes: new Uint8Array(block.buffer), geometry, barrier };
      const group = HostGroup.#make(name, rank, size, shared, collectiveTimeout);
      await group.#awaitFormed(deadline, timeout, signal);
      block.release(); // the creator removes the name: the group is complete, nobody else may join it
      return group;
    } catch (err) {
      if (rank >= 0 && !isNdshmError(err, 'EINVAL')) HostGroup.#breakWords(i32, ops, L.BrokenReason.JoinFailed, rank, true);
      giveUp();
      throw err;
    }
  }

  async #awaitFormed(deadline: number, timeout: number, signal: AbortSignal | undefined): Promise<void> {
    const s = this.#shared!;
    const at = L.body.state >> 2;
    let nextCheck = performance.now() + checkEveryMs;
    for (;;) {
      const w = Atomics.load(s.i32, at);
      if ((w & L.formedBit) !== 0) return;
      if (w < 0) throw this.#diagnose('HostGroup.join');
      const now = performance.now();
      if (now >= deadline) {
        if (!HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.JoinTimedOut, this.rank, true)) return;
        throw new NdshmError(
          'ETIMEDOUT',
          `HostGroup.join: host group "${this.name}": only ${w & L.joinedMask} of ${this.size} members joined within ${timeout} ms (missing: ranks ${this.#missingRanks().join(', ')})`,
          { segment: s.block.name },
        );
      }
      if (now >= nextCheck) {
        const dead = s.ops.scan(L.body.slots, this.size);
        if (dead === -2) throw badGroup(s.block.name, 'a member slot does not hold a robust process-shared mutex');
        if (dead >= 0) {
          if (!HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.MemberDied, dead, true)) return;
          throw this.#diagnose('HostGroup.join');
        }
        nextCheck = now + checkEveryMs;
      }
      const wait = waitAsync(s.ops, L.body.state, w, native.SyncWaitMode.Value, Math.max(0, Math.min(deadline, nextCheck) - now), s.block.name);
      if ((await waitWithSignal(wait, signal)) === 'aborted') {
        if (!HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.Aborted, this.rank, true)) return;
        throw new NdshmError('EABORTED', `HostGroup.join: joining host group "${this.name}" was aborted`, { segment: s.block.name, cause: signal!.reason });
      }
    }
  }

  #missingRanks(): number[] {
    const s = this.#shared!;
    const out: number[] = [];
    for (let r = 0; r < this.size; r++) {
      if (Atomics.load(s.i32, (L.body.slots + r * L.slot.size + L.slot.status) >> 2) !== L.Status.Joined) out.push(r);
    }
    return out;
  }

  /**
   * Marks the group broken (reason first, then the broken bit; everyone waiting on the state word is
   * woken). With `unlessFormed`, not once the group has formed: false then (the rendezvous succeeded).
   */
  static #breakWords(i32: Int32Array, ops: native.SyncOps, reason: L.BrokenReason, rank: number, unlessFormed: boolean): boolean {
    const at = L.body.state >> 2;
    for (;;) {
      const w = Atomics.load(i32, at);
      if (unlessFormed && (w & L.formedBit) !== 0) return false;
      if (w < 0) return true;
      if (Atomics.compareExchange(i32, L.body.reason >> 2, 0, reason) === 0) Atomics.store(i32, L.body.brokenRank >> 2, rank);
      if (Atomics.compareExchange(i32, at, w, w | L.brokenBit) === w) break;
    }
    ops.wake(L.body.state, wakeAll);
    return true;
  }

  /**
   * Joins the group that `ndshm run` started this process in: NDSHM_GROUP, NDSHM_RANK, NDSHM_SIZE
   * (and NDSHM_GROUP_TIMEOUT, ms). Without NDSHM_GROUP, a group of one (as MPI's COMM_WORLD is for a
   * program started without mpirun).
   */
  static async fromEnv(env?: Record<string, string | undefined>, options?: HostGroupEnvOptions): Promise<HostGroup> {
    const where = 'HostGroup.fromEnv';
    const e = env ?? process.env;
    if (typeof e !== 'object' || e === null) throw invalid(`${where}: env must be an object like process.env`);
    const opts = checkOptions(options, ['timeout', 'collectiveTimeout', 'signal'], where);
    const read = (key: string): string | undefined => {
      const v: unknown = Object.hasOwn(e, key) ? e[key] : undefined;
      if (v !== undefined && typeof v !== 'string') throw invalid(`${where}: ${key} must be a string, got ${show(v)}`);
      return v === '' ? undefined : v;
    };
    const decimal = (key: string, v: string): number => {
      if (!/^\d{1,9}$/.test(v)) throw invalid(`${where}: ${key} must be a decimal integer, got ${show(v)}`);
      return Number(v);
    };
    const name = read('NDSHM_GROUP');
    const rankText = read('NDSHM_RANK');
    const sizeText = read('NDSHM_SIZE');
    const timeoutText = read('NDSHM_GROUP_TIMEOUT');
    const collectiveTimeout = checkMs(opts.collectiveTimeout, 'collectiveTimeout', where);
    if (name === undefined) {
      if (rankText !== undefined || sizeText !== undefined) throw invalid(`${where}: NDSHM_RANK or NDSHM_SIZE is set but NDSHM_GROUP is not`);
      checkMs(opts.timeout, 'timeout', where);
      return HostGroup.#make(`single-${process.pid}`, 0, 1, undefined, collectiveTimeout);
    }
    if (rankText === undefined || sizeText === undefined) throw invalid(`${where}: NDSHM_GROUP is set, so NDSHM_RANK and NDSHM_SIZE must be too`);
    const timeout = opts.timeout ?? (timeoutText === undefined ? undefined : decimal('NDSHM_GROUP_TIMEOUT', timeoutText));
    return HostGroup.join(name, {
      size: decimal('NDSHM_SIZE', sizeText),
      rank: decimal('NDSHM_RANK', rankText),
      ...(timeout === undefined ? {} : { timeout }),
      ...(collectiveTimeout === undefined ? {} : { collectiveTimeout }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  }

  /** True for rank 0, the member that allocates shared arrays (pyGSTi's is_host_leader). */
  get isLeader(): boolean {
    return this.rank === 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True once a collective can no longer complete: a member died, left, timed out or aborted. */
  get broken(): boolean {
    const s = this.#shared;
    return s !== undefined && (Atomics.load(s.i32, L.body.state >> 2) < 0 || s.barrier.broken);
  }

  /** Waits until every member has called barrier(). */
  async barrier(options?: CollectiveOptions): Promise<void> {
    await this.#run(L.Op.Barrier, 0, () => ({}), options, 'barrier()');
  }

  /**
   * `value` (JSON, at most 64 KiB) from rank `root` to every member: each gets the root's value (the
   * root its own object, the others a parsed copy). The others' `value` is ignored.
   */
  async broadcast<T>(value: T, root = 0, options?: CollectiveOptions): Promise<T> {
    const where = 'broadcast()';
    let rootOk = -1;
    const replies = await this.#run(
      L.Op.Broadcast,
      typeof root === 'number' && Number.isSafeInteger(root) && root >= 0 && root < this.size ? root : 0xffffffff,
      () => {
        rootOk = checkInt(root, 'root', 0, this.size - 1, `HostGroup.${where}`);
        return this.rank === root ? { json: encode(value, L.broadcastSize, `HostGroup.${where}`) } : {};
      },
      options,
      where,
    );
    if (this.rank === rootOk) return value;
    return decode(replies[rootOk]!.json, this.name, rootOk) as T;
  }

  /** Every member's value (JSON, at most 16 KiB each), in rank order, to every member (an allgather). */
  async gather<T>(value: T): Promise<T[]>;
  async gather<T>(value: T, options?: CollectiveOptions): Promise<T[]>;
  async gather<T>(value: T, options?: CollectiveOptions): Promise<T[]> {
    const where = 'gather()';
    const replies = await this.#run(L.Op.Gather, 0, () => ({ json: encode(value, L.recordSize - L.recordHeader, `HostGroup.${where}`) }), options, where);
    return replies.map((r) => (r.rank === this.rank ? value : (decode(r.json, this.name, r.rank) as T)));
  }

  /**
   * Leaves the group: collectives still pending here reject with ECLOSED, and the other members'
   * collectives fail from now on (EBROKEN: a collective needs every member). Calling it again does
   * nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const s = this.#shared;
    if (s === undefined) return;
    this.#shared = undefined;
    Atomics.store(s.i32, (L.body.slots + this.rank * L.slot.size + L.slot.status) >> 2, L.Status.Left);
    HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.MemberLeft, this.rank, false);
    try {
      if (!s.barrier.broken) s.barrier.abort();
    } finally {
      s.barrier.close();
      s.ops.leave(L.body.slots, this.rank);
      s.block.release();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `HostGroup("${this.name}", rank ${this.rank} of ${this.size}${this.#closed ? ', closed' : this.broken ? ', broken' : ''})`;
  }

  static {
    exchange = (group, op, arg, mine, options, where) => group.#run(op, arg, () => {
      if (mine.error !== undefined) throw mine.error;
      return { json: mine.json };
    }, options, where);
    usable = (group) => !group.#closed && !group.broken;
    hostCounters = (group) => {
      const s = group.#shared;
      return s === undefined ? undefined : new BigInt64Array(s.block.buffer, L.body.hostTracked, 2);
    };
  }

  // ----- collectives ------------------------------------------------------------------------------

  /**
   * One collective call: `prepare` checks this member's arguments and gives its contribution (what it
   * throws becomes this member's failure, which every member learns in the same round). Queued after
   * this member's earlier calls.
   */
  #run(op: L.Op, arg: number, prepare: () => { json?: string | undefined }, options: unknown, where: string): Promise<Reply[]> {
    // Nothing pending (the usual case): start now, without a hop through the queue.
    const p = this.#pending === 0 ? this.#collective(op, arg, prepare, options, where) : this.#tail.then(() => this.#collective(op, arg, prepare, options, where));
    this.#pending++;
    this.#tail = p.then(this.#settled, this.#settled);
    return p;
  }

  readonly #settled = (): void => {
    this.#pending--;
  };

  async #collective(op: L.Op, arg: number, prepare: () => { json?: string | undefined }, options: unknown, where: string): Promise<Reply[]> {
    const full = `HostGroup.${where}`;
    if (this.#closed) throw new NdshmError('ECLOSED', `${full}: host group "${this.name}" is closed (rank ${this.rank})`);
    let timeout = this.#collectiveTimeout;
    let signal: AbortSignal | undefined;
    let mine: { json?: string | undefined } | undefined;
    let failure: unknown;
    try {
      const opts = checkOptions(options as CollectiveOptions | undefined, ['timeout', 'signal'], full);
      timeout = checkMs(opts.timeout, 'timeout', full) ?? timeout;
      signal = checkSignal(opts.signal, full);
      mine = prepare();
    } catch (err) {
      failure = err;
    }
    const s = this.#shared;
    if (s === undefined) {
      if (failure !== undefined) throw failure;
      return [{ rank: 0, json: mine!.json }];
    }
    if (this.broken) throw this.#diagnose(full);
    if (signal?.aborted) {
      HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.Aborted, this.rank, false);
      s.barrier.abort();
      throw new NdshmError('EABORTED', `${full} was aborted before it started`, { segment: s.block.name, cause: signal.reason });
    }
    const seq = (this.#seq = (this.#seq + 1) >>> 0);
    this.#write(s, seq, op, arg, mine, failure);
    try {
      await s.barrier.wait(
        timeout === undefined && signal === undefined
          ? undefined
          : { ...(timeout === undefined || timeout > maxTimerMs ? {} : { timeoutMs: timeout }), ...(signal === undefined ? {} : { signal }) },
      );
    } catch (err) {
      throw this.#afterFailedWait(err, seq, full, timeout);
    }
    return this.#read(s, seq, op, arg, failure, full);
  }

  #write(s: Shared, seq: number, op: L.Op, arg: number, mine: { json?: string | undefined } | undefined, failure: unknown): void {
    const at = L.recordAt(s.geometry, seq, this.rank);
    let flags = 0;
    let text = mine?.json;
    if (failure !== undefined) {
      flags = L.failedBit;
      const e = failure as { code?: unknown; message?: unknown };
      const code = isNdshmError(failure) ? failure.code : 'EINVAL';
      const message = typeof e.message === 'string' ? e.message : String(failure);
      text = JSON.stringify({ code, message: message.slice(0, 2000) });
    }
    let length = 0;
    if (text !== undefined) {
      const bytes = Buffer.from(text, 'utf8');
      const target = op === L.Op.Broadcast && flags === 0 ? L.broadcastAt(s.geometry, seq) : at + L.recordHeader;
      const room = op === L.Op.Broadcast && flags === 0 ? L.broadcastSize : L.recordSize - L.recordHeader;
      length = Math.min(bytes.length, room); // encode() has checked it; an error text is cut to fit
      s.bytes.set(bytes.subarray(0, length), target);
    } else {
      flags |= 0x200; // no value (undefined)
    }
    Atomics.store(s.i32, (at + 4) >> 2, op | flags);
    Atomics.store(s.i32, (at + 8) >> 2, arg | 0);
    Atomics.store(s.i32, (at + 12) >> 2, length);
    Atomics.store(s.i32, at >> 2, seq | 0);
  }

  #read(s: Shared, seq: number, op: L.Op, arg: number, failure: unknown, where: string): Reply[] {
    const replies: Reply[] = [];
    let firstFailure: NdshmError | undefined;
    let mismatch = false;
    const carries = op !== L.Op.Barrier && op !== L.Op.Cleanup;
    for (let r = 0; r < this.size; r++) {
      const at = L.recordAt(s.geometry, seq, r);
      const rseq = Atomics.load(s.i32, at >> 2) >>> 0;
      const word = Atomics.load(s.i32, (at + 4) >> 2);
      const rop = word & 0xff;
      if (rseq !== seq || rop !== op || (op === L.Op.Broadcast && Atomics.load(s.i32, (at + 8) >> 2) >>> 0 !== arg >>> 0)) mismatch = true;
      const failed = (word & L.failedBit) !== 0;
      if (!failed && !carries) continue;
      const length = Atomics.load(s.i32, (at + 12) >> 2) >>> 0;
      const bcast = op === L.Op.Broadcast && !failed && rop === L.Op.Broadcast;
      const room = bcast ? L.broadcastSize : L.recordSize - L.recordHeader;
      if (length > room) throw badGroup(s.block.name, `rank ${r}'s record says ${length} bytes (at most ${room})`);
      const from = bcast ? L.broadcastAt(s.geometry, seq) : at + L.recordHeader;
      const json = (word & 0x200) !== 0 ? undefined : Buffer.from(s.bytes.subarray(from, from + length)).toString('utf8');
      if (failed && firstFailure === undefined && r !== this.rank) firstFailure = peerFailure(json, r, this.name, where);
      replies.push({ rank: r, json });
    }
    if (failure !== undefined) throw failure;
    if (firstFailure !== undefined) throw firstFailure;
    if (mismatch) {
      const calls: string[] = [];
      for (let r = 0; r < this.size; r++) {
        const at = L.recordAt(s.geometry, seq, r);
        const rseq = Atomics.load(s.i32, at >> 2) >>> 0;
        const rop = Atomics.load(s.i32, (at + 4) >> 2) & 0xff;
        const rarg = Atomics.load(s.i32, (at + 8) >> 2) >>> 0;
        calls.push(`rank ${r}: ${rseq !== seq ? `call #${rseq}, ` : ''}${L.opNames[rop] ?? `op ${rop}`}${rop === L.Op.Broadcast ? ` (root ${rarg === 0xffffffff ? 'invalid' : rarg})` : ''}`);
      }
      throw new NdshmError('EINVAL', `${where}: the members of host group "${this.name}" made different collective calls at call #${seq} (${calls.join('; ')})`, {
        segment: s.block.name,
      });
    }
    return replies;
  }

  #afterFailedWait(err: unknown, seq: number, where: string, timeout: number | undefined): unknown {
    const s = this.#shared;
    if (s === undefined || isNdshmError(err, 'ECLOSED')) {
      return new NdshmError('ECLOSED', `${where}: host group "${this.name}" was closed while the call was pending`, { cause: err });
    }
    if (isNdshmError(err, 'ETIMEDOUT')) {
      HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.TimedOut, this.rank, false);
      const waiting: number[] = [];
      for (let r = 0; r < this.size; r++) if (Atomics.load(s.i32, L.recordAt(s.geometry, seq, r) >> 2) >>> 0 !== seq) waiting.push(r);
      return new NdshmError('ETIMEDOUT', `${where}: host group "${this.name}": timed out after ${timeout} ms waiting for rank${waiting.length === 1 ? '' : 's'} ${waiting.join(', ')}`, {
        segment: s.block.name,
      });
    }
    if (isNdshmError(err, 'EABORTED')) {
      HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.Aborted, this.rank, false);
      return err;
    }
    if (isNdshmError(err, 'EBROKEN')) return this.#diagnose(where, err);
    return err;
  }

  /** Why the group is broken, as the error a collective gives. */
  #diagnose(where: string, cause?: unknown): NdshmError {
    const s = this.#shared;
    if (s === undefined) return new NdshmError('ECLOSED', `${where}: host group "${this.name}" is closed`);
    const segment = s.block.name;
    const dead = s.ops.scan(L.body.slots, this.size);
    if (dead === -2) return badGroup(segment, 'a member slot does not hold a robust process-shared mutex');
    if (dead >= 0) HostGroup.#breakWords(s.i32, s.ops, L.BrokenReason.MemberDied, dead, false);
    const reason = Atomics.load(s.i32, L.body.reason >> 2) as L.BrokenReason;
    const rank = Atomics.load(s.i32, L.body.brokenRank >> 2) >>> 0;
    const who = dead >= 0 ? dead : rank;
    const pid = who < this.size ? Atomics.load(s.i32, (L.body.slots + who * L.slot.size + L.slot.pid) >> 2) >>> 0 : 0;
    const group = `host group "${this.name}"`;
    const options = { segment, ...(cause === undefined ? {} : { cause }) };
    if (dead >= 0 || reason === L.BrokenReason.MemberDied) {
      return new NdshmError('EPEERDIED', `${where}: ${group}: rank ${who} (pid ${pid}) ended without closing the group (killed, crashed, or exited without close())`, options);
    }
    const why: Record<number, [NdshmErrorCode, string]> = {
      [L.BrokenReason.JoinTimedOut]: ['ETIMEDOUT', `rank ${rank} gave up waiting for the group to form (its join timeout passed)`],
      [L.BrokenReason.MemberLeft]: ['EBROKEN', `rank ${rank} (pid ${pid}) left the group (close()); a collective call needs every member`],
      [L.BrokenReason.TimedOut]: ['EBROKEN', `rank ${rank} (pid ${pid}) timed out in a collective call`],
      [L.BrokenReason.Aborted]: ['EBROKEN', `rank ${rank} (pid ${pid}) aborted a collective call or its join`],
      [L.BrokenReason.JoinFailed]: ['EBROKEN', `rank ${rank} (pid ${pid}) failed to join`],
    };
    const [code, text] = why[reason] ?? ['EBROKEN', `its barrier is broken${cause instanceof Error ? ` (${cause.message})` : ''}`];
    return new NdshmError(code, `${where}: ${group} is broken: ${text}`, options);
  }
}

/** A member's value as JSON for a collective, checked against the room it has. */
function encode(value: unknown, room: number, where: string): string | undefined {
  if (value === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new NdshmError('EINVAL', `${where}: the value is not JSON (${(err as Error).message})`, { cause: err });
  }
  if (text === undefined) throw invalid(`${where}: the value is not JSON (${show(value)})`);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > room) throw invalid(`${where}: the value is ${bytes} bytes of JSON; at most ${room} fit (pass large data as a shared array's handle)`);
  return text;
}

function decode(json: string | undefined, group: string, rank: number): unknown {
  if (json === undefined) return undefined;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    throw new NdshmError('EBADHEADER', `host group "${group}": rank ${rank}'s value in shared memory is not JSON (corrupt record)`);
  }
}

function peerFailure(json: string | undefined, rank: number, group: string, where: string): NdshmError {
  let code: NdshmErrorCode = 'EBADHEADER';
  let message = 'its error record is corrupt';
  try {
    const e = JSON.parse(json ?? '') as { code?: unknown; message?: unknown };
    if (typeof e.code === 'string' && crossingCodes.has(e.code)) code = e.code as NdshmErrorCode;
    if (typeof e.message === 'string') message = e.message.slice(0, 2000);
  } catch {
    // corrupt: EBADHEADER as set
  }
  return new NdshmError(code, `${where}: host group "${group}": rank ${rank} failed: ${message}`);
}

