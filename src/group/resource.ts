// ResourceAllocation: pyGSTi's resource_alloc for one host, with its memory tracker. pyGSTi charges
// every array as float64 and per process only; here the charge is the real bytes, and a host group's
// members also keep a host-wide total (two 64-bit words of the group segment) that counts an array
// shared by the whole group once.

import { NdshmError, invalid, show } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { type CollectiveOptions, HostGroup, hostCounters } from './host-group.js';

export interface ResourceAllocationOptions {
  /** The host group this computation runs in; null (the default) for a single process. */
  hostGroup?: HostGroup | null;
  /** Bytes this process may track at most (addTrackedMemory past it is ENOMEM); null: no limit. */
  memLimit?: number | null;
}

export interface TrackOptions {
  /**
   * The bytes are one array shared by every member of the host group (each member calls this with
   * the same size, as createSharedNdarray does): each is charged its share, the host total once.
   */
  shared?: boolean;
}

export interface TrackedMemory {
  /** Bytes this allocation has tracked now (its share of shared arrays). */
  readonly process: number;
  readonly processPeak: number;
  /** Bytes the whole host group has tracked now (shared arrays once); this process's without a group. */
  readonly host: number;
  readonly hostPeak: number;
}

function checkBytes(nbytes: unknown, where: string): number {
  if (typeof nbytes !== 'number' || !Number.isSafeInteger(nbytes)) throw invalid(`${where}: nbytes must be an integer number of bytes (negative to release), got ${show(nbytes)}`);
  return nbytes;
}

export class ResourceAllocation {
  /** The host group, or null for a single process (pyGSTi's host_comm). */
  readonly hostGroup: HostGroup | null;
  readonly memLimit: number | null;
  #process = 0;
  #processPeak = 0;
  // The host totals as last seen (they live in the group segment; here when there is none).
  #host = 0;
  #hostPeak = 0;

  constructor(options?: ResourceAllocationOptions) {
    const opts = checkOptions(options, ['hostGroup', 'memLimit'], 'new ResourceAllocation');
    const g = opts.hostGroup ?? null;
    if (g !== null && !(g instanceof HostGroup)) throw invalid(`new ResourceAllocation: hostGroup must be a HostGroup or null, got ${show(g)}`);
    const limit = opts.memLimit ?? null;
    if (limit !== null && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0)) {
      throw invalid(`new ResourceAllocation: memLimit must be a non-negative integer number of bytes or null, got ${show(limit)}`);
    }
    this.hostGroup = g;
    this.memLimit = limit;
  }

  /** True without a group, or for the group's rank 0 (pyGSTi's is_host_leader). */
  get isHostLeader(): boolean {
    return this.hostGroup === null || this.hostGroup.isLeader;
  }

  /** The group's barrier; nothing without a group (pyGSTi's host_comm_barrier). */
  async hostGroupBarrier(options?: CollectiveOptions): Promise<void> {
    if (this.hostGroup !== null) await this.hostGroup.barrier(options);
  }

  /** This process's tracked bytes now (pyGSTi's allocated_memory). */
  get allocatedMemory(): number {
    return this.#process;
  }

  get trackedMemory(): TrackedMemory {
    const c = this.#counters();
    if (c !== undefined) {
      this.#host = Number(Atomics.load(c, 0));
      this.#hostPeak = Number(Atomics.load(c, 1));
    }
    return Object.freeze({ process: this.#process, processPeak: this.#processPeak, host: this.#host, hostPeak: this.#hostPeak });
  }

  /** ENOMEM if tracking `nbytes` more would pass memLimit (pyGSTi's check_can_allocate_memory). */
  checkCanAllocateMemory(nbytes: number): void {
    const n = checkBytes(nbytes, 'checkCanAllocateMemory');
    if (this.memLimit !== null && n > 0 && this.#process + n > this.memLimit) {
      throw new NdshmError(
        'ENOMEM',
        `tracking ${n} more bytes would make ${this.#process + n}, past this ResourceAllocation's memLimit of ${this.memLimit} bytes`,
      );
    }
  }

  /**
   * Counts `nbytes` (negative: releases them). Private memory is charged to this process and to the
   * host total; `{ shared: true }` memory is split among the group's members (the leader takes the
   * remainder) and charged to the host total once. ENOMEM (nothing counted) past memLimit.
   */
  addTrackedMemory(nbytes: number, options?: TrackOptions): void {
    const n = checkBytes(nbytes, 'addTrackedMemory');
    const opts = checkOptions(options, ['shared'], 'addTrackedMemory');
    const shared = checkBoolean(opts.shared, 'shared', false);
    const size = this.hostGroup?.size ?? 1;
    const leader = this.isHostLeader;
    const mine = shared && size > 1 ? Math.trunc(n / size) + (leader ? n % size : 0) : n;
    const toHost = shared && size > 1 && !leader ? 0 : n;
    this.checkCanAllocateMemory(mine);
    this.#process += mine;
    this.#processPeak = Math.max(this.#processPeak, this.#process);
    const c = this.#counters();
    if (c === undefined) {
      this.#host += toHost;
      this.#hostPeak = Math.max(this.#hostPeak, this.#host);
      return;
    }
    const now = Atomics.add(c, 0, BigInt(toHost)) + BigInt(toHost);
    for (let peak = Atomics.load(c, 1); now > peak; ) {
      const seen = Atomics.compareExchange(c, 1, peak, now);
      if (seen === peak) break;
      peak = seen;
    }
  }

  /** addTrackedMemory(nbytes) now and addTrackedMemory(-nbytes) when disposed (pyGSTi's temporarily_track_memory). */
  temporarilyTrackMemory(nbytes: number, options?: TrackOptions): Disposable {
    this.addTrackedMemory(nbytes, options);
    let done = false;
    return {
      [Symbol.dispose]: () => {
        if (done) return;
        done = true;
        this.addTrackedMemory(-nbytes, options);
      },
    };
  }

  #counters(): BigInt64Array | undefined {
    const g = this.hostGroup;
    return g === null || g.closed ? undefined : hostCounters(g);
  }
}
