// Cluster: a store published once to NATS JetStream, materialised once per host (docs/cluster.md).
//
// Publication: every segment's element bytes become one object, then the manifest pointer (a KV
// entry) is set as the last step: `create` for a new store, a revision-checked `update` to overwrite,
// so two publishers never lose an update (each learns which generation it replaced, and only that one
// is deleted, after a grace period). A failed publication sets no pointer and deletes its objects.
//
// Materialisation: open()/pull() compare this host's store with the pointer. When it is current they
// attach at once; otherwise the first process takes the host's claim (claim.ts) and fetches
// (fetch.ts), and the others wait for it and attach.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KvEntry } from '@nats-io/kv';
import type { NodeConnectionOptions } from '@nats-io/transport-node';

import { type NdshmErrorCode, NdshmError, invalid, isNdshmError, show } from '../errors.js';
import type { Block } from '../ndarray/block.js';
import { checkBoolean, checkSize, formatBytes } from '../options.js';
import { arraysToShm, shmToArrays, unlink } from '../stores/api.js';
import type { Manifest } from '../stores/manifest.js';
import { validateStoreName } from '../stores/names.js';
import { readManifest } from '../stores/published.js';
import { type StoreTree, releaseArrays } from '../stores/read.js';
import { Claim, waitForClaim } from './claim.js';
import { type Engine, checkBucket, checkHostId, engineCall, hostIdFrom, listKeys, listObjects, openEngine, storeKey, storeOfKey, withinMs } from './engine.js';
import { type ClusterStats, type FetchContext, abortedError, materialise } from './fetch.js';
import { type ReplicaState, hostFailure, hostStates, reportState } from './hosts.js';
import { isCurrent, localState, mayReplace } from './local.js';
import { type CheckedRemote, type RemoteManifest, type RemoteStoreInfo, decodeRemote, encodeRemote, parseObjectName, remoteInfo, replicaAttr } from './manifest.js';
import { ReplicaAgent, type ReplicateOptions } from './agent.js';
import { deleteObjects, openSegments, uploadSegments } from './upload.js';

export interface ClusterOptions extends NodeConnectionOptions {
  /** Prefix of the JetStream buckets: objects in `bucket`, manifests in `${bucket}-stores`, host states in `${bucket}-hosts`. Default 'ndshm'. */
  bucket?: string;
  /** Bytes per object chunk; default min(8 MiB, the server's max_payload). */
  chunkSize?: number;
  /** JetStream replicas of the buckets when this call creates them (default 1). */
  replicas?: number;
  /** This host's name in the host states (default os.hostname()). */
  hostId?: string;
  /** The most a remote manifest may make this host fetch or allocate, in bytes (default 64 GiB). */
  maxStoreBytes?: number;
  /** How long a replaced generation's objects are kept for hosts still fetching it (default 60 s). */
  graceMs?: number;
  /** A read of an object that makes no progress for this long is abandoned and retried (default 15 s). */
  stallTimeoutMs?: number;
  /** Retries per segment after a stall or a lost connection (default 6). */
  retries?: number;
  /** Segments fetched at the same time (default 2). */
  concurrency?: number;
  /**
   * How objects are read: 'ordered' (default), an ordered pull consumer on the object's chunks, one
   * SHA-256 pass checked against both digests; or 'get', nats.js's ObjectStore.get (which hashes
   * too, so the bytes are hashed twice). After a read stalls, this Cluster switches to the other.
   */
  reader?: 'ordered' | 'get';
}

export interface PublishOptions {
  /** Replace the remote store of that name (default false: EEXIST). */
  overwrite?: boolean;
  /** Called with bytes uploaded so far and the total. */
  progress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PullOptions {
  /** Keep the local copy after this process ends (default false for open(), true for pull()). */
  persistent?: boolean;
  /** Replace a local store of that name that is not a replica of this cluster's (default false: EEXIST). */
  replaceLocal?: boolean;
  /** Give up (ETIMEDOUT) after this long, waiting and fetching included (default 10 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Bytes received so far and the total, when this process fetches. */
  progress?: (done: number, total: number) => void;
}

export interface OpenOptions extends PullOptions {
  /** Attach without write access. */
  readOnly?: boolean;
}

export interface PullResult {
  readonly name: string;
  readonly generation: string;
  readonly revision: number;
  readonly bytes: number;
  readonly arrays: number;
  /** This process fetched it (false: the host had it, or another process fetched it). */
  readonly fetched: boolean;
}

export interface WaitReplicatedOptions {
  /** How many hosts, or which hosts, must report the current generation ready. */
  hosts: number | readonly string[];
  /** Default 60 s; then ETIMEDOUT. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RemoteGcOptions {
  /** Only generations older than this are removed (default: the cluster's graceMs). */
  graceMs?: number;
  dryRun?: boolean;
}

export interface RemoteGcEntry {
  /** "<store>/<generation>", or the chunk subject of an orphan. */
  readonly what: string;
  readonly objects: number;
  readonly bytes: number;
  readonly reason: string;
  readonly removed: boolean;
}

/** A remote manifest as listed: checked, or refused with the reason. */
export type RemoteListing = { readonly name: string; readonly info: RemoteStoreInfo; readonly error?: undefined } | { readonly name: string; readonly info?: undefined; readonly error: NdshmError };

const ownOptionKeys = ['bucket', 'chunkSize', 'replicas', 'hostId', 'maxStoreBytes', 'graceMs', 'stallTimeoutMs', 'retries', 'concurrency', 'reader'] as const;

const defaultMaxStoreBytes = 64 * 2 ** 30;
const defaultTimeoutMs = 10 * 60_000;

function positive(value: unknown, what: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = checkSize(value, what);
  if (n < min) throw invalid(`${what} must be at least ${min}, got ${n}`);
  return n;
}

/** Largest delay a Node timer takes (2**31 - 1 ms, about 24.8 days); longer ones would fire at once. */
const maxTimerMs = 0x7fffffff;

/** A positive() number of milliseconds that a timer can wait. */
function ms(value: unknown, what: string, fallback: number, min = 0): number {
  const n = positive(value, what, fallback, min);
  if (n > maxTimerMs) throw invalid(`${what} must be at most ${maxTimerMs} ms, got ${n}`);
  return n;
}

function checkObject<T>(options: T | undefined, where: string, allowed: readonly string[]): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw invalid(`${where}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw invalid(`${where}: unknown option "${key}"; options are ${allowed.join(', ')}`);
  }
  return options;
}

function checkSignal(signal: unknown, where: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalid(`${where}: signal must be an AbortSignal`);
  return signal;
}

function checkProgress(progress: unknown, where: string): ((done: number, total: number) => void) | undefined {
  if (progress === undefined) return undefined;
  if (typeof progress !== 'function') throw invalid(`${where}: progress must be a function`);
  return progress as (done: number, total: number) => void;
}

const isWrongLastSequence = (err: unknown): boolean =>
  err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

const knownCodes = new Set<string>(['ENOSPC', 'EDIGEST', 'EBADHEADER', 'EREMOTE', 'ETIMEDOUT', 'EEXIST', 'EACCES', 'EFTYPE', 'ETOOBIG', 'ENOENT', 'EABORTED', 'EINVAL', 'ESYSTEM', 'EIO']);

const noRemoteStore = (name: string): NdshmError => new NdshmError('ENOENT', `no remote store named "${name}"`, { segment: name });

export class Cluster implements AsyncDisposable {
  readonly #engine: Engine;
  readonly #hostId: string;
  readonly #chunkSize: number;
  readonly #maxStoreBytes: number;
  readonly #graceMs: number;
  readonly #ctx: FetchContext;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #agents = new Set<ReplicaAgent>();
  #closed = false;

  private constructor(engine: Engine, o: { hostId: string; chunkSize: number; maxStoreBytes: number; graceMs: number; stallMs: number; retries: number; concurrency: number; reader: 'ordered' | 'get' }) {
    this.#engine = engine;
    this.#hostId = o.hostId;
    this.#chunkSize = o.chunkSize;
    this.#maxStoreBytes = o.maxStoreBytes;
    this.#graceMs = o.graceMs;
    const stats: ClusterStats = { fetches: 0, fetchedBytes: 0, uploads: 0, uploadedBytes: 0, stalls: 0, retries: 0 };
    this.#ctx = { engine, settings: { stallMs: o.stallMs, retries: o.retries, concurrency: o.concurrency }, stats, reader: o.reader };
  }

  /**
   * Connects to the NATS server(s) and opens (creating them if needed) the cluster's buckets.
   * Connection options (servers, user/pass, token, authenticator, tls, name, ...) go to nats.js as
   * they are. EREMOTE when the server is unreachable or has no JetStream.
   */
  static async connect(options?: ClusterOptions): Promise<Cluster> {
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) throw invalid('Cluster.connect: options must be an object');
    const all = { ...(options ?? {}) } as ClusterOptions & Record<string, unknown>;
    const own: Record<string, unknown> = {};
    for (const k of ownOptionKeys) {
      own[k] = all[k];
      delete all[k];
    }
    const bucket = checkBucket(own['bucket'] ?? 'ndshm');
    const hostId = own['hostId'] === undefined ? hostIdFrom(hostname()) : checkHostId(own['hostId']);
    const replicas = positive(own['replicas'], 'replicas', 1, 1);
    const chunkOption = own['chunkSize'] === undefined ? undefined : positive(own['chunkSize'], 'chunkSize', 0, 1024);
    const o = {
      hostId,
      maxStoreBytes: positive(own['maxStoreBytes'], 'maxStoreBytes', defaultMaxStoreBytes),
      graceMs: ms(own['graceMs'], 'graceMs', 60_000),
      stallMs: ms(own['stallTimeoutMs'], 'stallTimeoutMs', 15_000, 1),
      retries: positive(own['retries'], 'retries', 6),
      concurrency: positive(own['concurrency'], 'concurrency', 2, 1),
      reader: (own['reader'] ?? 'ordered') as 'ordered' | 'get',
    };
    if (o.reader !== 'ordered' && o.reader !== 'get') throw invalid(`reader must be 'ordered' or 'get', got ${show(o.reader)}`);
    const connection: NodeConnectionOptions = { maxReconnectAttempts: -1, name: `ndshm ${hostId} pid ${process.pid}`, ...all };
    const engine = await openEngine({ bucket, replicas, connection });
    const chunkSize = Math.min(chunkOption ?? 8 << 20, engine.maxPayload);
    return new Cluster(engine, { ...o, chunkSize });
  }

  /** This host's id in host states. */
  get hostId(): string {
    return this.#hostId;
  }

  get bucket(): string {
    return this.#engine.bucket;
  }

  /** The server this connection uses now. */
  get server(): string {
    return this.#engine.nc.getServer();
  }

  /** What this process did so far: fetches, uploads, bytes, stalls, retries. */
  stats(): Readonly<ClusterStats> {
    return { ...this.#ctx.stats };
  }

  #check(where: string): void {
    if (this.#closed) throw new NdshmError('ECLOSED', `${where}: this Cluster is closed`);
  }

  // ----- publication ------------------------------------------------------------------------------

  /**
   * Publishes `source` (the name of a local store, or arrays as arraysToShm takes them) as the remote
   * store `name`. Atomic: hosts see the previous generation or this one, never a part. EEXIST without
   * `overwrite` when the store exists; a failed or aborted publication leaves no manifest and no
   * objects.
   */
  async publish(name: string, source: string | object, options?: PublishOptions): Promise<RemoteStoreInfo> {
    this.#check('publish');
    const opts = checkObject(options, 'publish', ['overwrite', 'progress', 'signal']);
    validateStoreName(name);
    const overwrite = checkBoolean(opts.overwrite, 'overwrite', false);
    const signal = checkSignal(opts.signal, 'publish');
    const progress = checkProgress(opts.progress, 'publish');
    if (typeof source !== 'string' && (typeof source !== 'object' || source === null)) throw invalid('publish: source must be a store name or an object of arrays');
    const engine = this.#engine;
    const key = storeKey(name);
    if (!overwrite) {
      const e = await engineCall('reading the store manifests', () => engine.stores.get(key));
      if (e !== null && e.operation === 'PUT') throw remoteExists(name);
    }
    let temp: string | undefined;
    let m: Manifest | undefined;
    let fromStore = false;
    if (typeof source === 'string') {
      validateStoreName(source);
      m = readManifest(source);
      fromStore = m !== undefined;
      if (m === undefined) {
        const tree = shmToArrays(source, { readOnly: true }); // a cute-shm store: copied into an ndshm layout
        try {
          temp = tempStoreName();
          arraysToShm(temp, tree, { persistent: false });
        } finally {
          releaseArrays(tree);
        }
      }
    } else {
      temp = tempStoreName();
      arraysToShm(temp, source, { persistent: false });
    }
    let blocks: Block[] = [];
    try {
      if (temp !== undefined) m = readManifest(temp)!;
      blocks = openSegments(m!);
      const generation = randomBytes(16).toString('hex');
      const total = blocks.reduce((n, b) => n + b.dataLength, 0);
      let done = 0;
      progress?.(0, total);
      const segments = await uploadSegments(engine, name, generation, blocks, {
        chunkSize: this.#chunkSize,
        signal,
        onBytes: (n) => {
          done += n;
          this.#ctx.stats.uploadedBytes += n;
          progress?.(done, total);
        },
      });
      const remote: RemoteManifest = {
        ndshm_remote: 1,
        name,
        generation,
        created: Date.now(),
        publisher: { host: this.#hostId, pid: process.pid },
        ...(fromStore ? { source: { host: this.#hostId, created: m!.created, segments: m!.segments.map((s) => s.id) } } : {}),
        attrs: withoutReplicaMark(m!.attrs),
        bytes: total,
        segments,
        tree: m!.tree,
      };
      let checked: CheckedRemote | undefined;
      let pointer: { revision: number; replaced: KvEntry | undefined };
      try {
        const bytes = encodeRemote(remote);
        if (bytes.length > engine.maxPayload - 1024) {
          throw new NdshmError('ETOOBIG', `the manifest of store "${name}" is ${formatBytes(bytes.length)}, more than the server's max_payload (${formatBytes(engine.maxPayload)}) allows`, { segment: name });
        }
        checked = decodeRemote(bytes, name, Number.MAX_SAFE_INTEGER); // what every host will check
        if (signal?.aborted) throw abortedError(signal, `publishing store "${name}"`);
        pointer = await this.#setPointer(key, name, bytes, overwrite);
      } catch (err) {
        // An EREMOTE from the pointer write is ambiguous: the server may have stored it and the answer
        // been lost. Read the pointer again; if it names this generation, the publication happened.
        const landed = isNdshmError(err, 'EREMOTE') ? await this.#pointerGeneration(key) : null;
        if (checked !== undefined && landed?.generation === generation) {
          pointer = { revision: landed.revision, replaced: undefined }; // the replaced one is left to gc()
        } else {
          // Not published (or unknown, when the pointer cannot be read: then the objects stay for gc()).
          if (landed !== undefined) await deleteObjects(engine, segments.map((s) => s.object));
          throw err;
        }
      }
      if (pointer.replaced !== undefined) this.#deleteLater(name, pointer.replaced);
      this.#ctx.stats.uploads++;
      return remoteInfo(checked, pointer.revision);
    } finally {
      for (const b of blocks) b.release();
      if (temp !== undefined) unlink(temp);
    }
  }

  /** The generation and revision the manifest pointer names now; null for none, undefined if it cannot be read. */
  async #pointerGeneration(key: string): Promise<{ generation: unknown; revision: number } | null | undefined> {
    try {
      const e = await withinMs(this.#engine.stores.get(key), 30_000, 'reading the store manifests');
      if (e === null || e.operation !== 'PUT') return null;
      const parsed = JSON.parse(Buffer.from(e.value).toString('utf8')) as { generation?: unknown } | null;
      return { generation: parsed?.generation, revision: e.revision };
    } catch {
      return undefined;
    }
  }

  /** Sets the manifest pointer: create, or compare-and-set against the revision read. */
  async #setPointer(key: string, name: string, bytes: Uint8Array, overwrite: boolean): Promise<{ revision: number; replaced: KvEntry | undefined }> {
    const kv = this.#engine.stores;
    for (let attempt = 0; attempt < 100; attempt++) {
      const current = await engineCall('reading the store manifests', () => kv.get(key));
      try {
        if (current === null || current.operation !== 'PUT') return { revision: await kv.create(key, bytes), replaced: undefined };
        if (!overwrite) throw remoteExists(name);
        return { revision: await kv.update(key, bytes, current.revision), replaced: current };
      } catch (err) {
        if (isWrongLastSequence(err)) continue; // another publisher was first: read again
        throw isNdshmError(err) ? err : new NdshmError('EREMOTE', `setting the manifest of store "${name}": ${(err as Error).message}`, { segment: name, cause: err });
      }
    }
    throw new NdshmError('EREMOTE', `setting the manifest of store "${name}": other publishers kept replacing it`, { segment: name });
  }

  /** After the grace period, deletes the objects of a replaced generation (gc() catches what this misses). */
  #deleteLater(name: string, replaced: KvEntry): void {
    let objects: string[];
    try {
      objects = decodeRemote(replaced.value, name, Number.MAX_SAFE_INTEGER).manifest.segments.map((s) => s.object);
    } catch {
      return; // not a manifest ndshm can read: gc() removes unreferenced objects
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) void deleteObjects(this.#engine, objects);
    }, this.#graceMs);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Removes the remote store: its manifest, then its objects. Agents unlink their copies. False if there was none. */
  async unpublish(name: string): Promise<boolean> {
    this.#check('unpublish');
    const key = storeKey(name);
    const kv = this.#engine.stores;
    for (let attempt = 0; attempt < 100; attempt++) {
      const current = await engineCall('reading the store manifests', () => kv.get(key));
      if (current === null || current.operation !== 'PUT') return false;
      try {
        await kv.delete(key, { previousSeq: current.revision });
      } catch (err) {
        if (isWrongLastSequence(err)) continue;
        throw new NdshmError('EREMOTE', `removing the manifest of store "${name}": ${(err as Error).message}`, { segment: name, cause: err });
      }
      try {
        const objects = decodeRemote(current.value, name, Number.MAX_SAFE_INTEGER).manifest.segments.map((s) => s.object);
        await deleteObjects(this.#engine, objects);
      } catch {
        // unreadable manifest: gc() removes what no manifest names
      }
      return true;
    }
    throw new NdshmError('EREMOTE', `removing store "${name}": other publishers kept replacing it`, { segment: name });
  }

  // ----- reading the manifests --------------------------------------------------------------------

  /** @internal The current manifest of `name`, checked, or undefined when there is none. EBADHEADER if refused. */
  async current(name: string): Promise<{ checked: CheckedRemote; revision: number } | undefined> {
    this.#check('current');
    const key = storeKey(name);
    const e = await engineCall('reading the store manifests', () => this.#engine.stores.get(key));
    if (e === null || e.operation !== 'PUT') return undefined;
    return { checked: decodeRemote(e.value, name, this.#maxStoreBytes), revision: e.revision };
  }

  /** The remote store `name`, or null if there is none. */
  async info(name: string): Promise<RemoteStoreInfo | null> {
    const c = await this.current(name);
    return c === undefined ? null : remoteInfo(c.checked, c.revision);
  }

  /** Every remote store, including those whose manifests this host refuses (with the reason). */
  async listAll(): Promise<RemoteListing[]> {
    this.#check('list');
    const keys = await listKeys(this.#engine, 'stores', undefined, 'listing the store manifests');
    const out: RemoteListing[] = [];
    for (const key of keys.sort()) {
      const name = storeOfKey(key);
      if (name === undefined) continue; // not a key ndshm writes
      try {
        const c = await this.current(name);
        if (c !== undefined) out.push({ name, info: remoteInfo(c.checked, c.revision) });
      } catch (err) {
        if (!isNdshmError(err, 'EBADHEADER')) throw err;
        out.push({ name, error: err });
      }
    }
    return out;
  }

  /** Every remote store whose manifest this host accepts. */
  async list(): Promise<RemoteStoreInfo[]> {
    return (await this.listAll()).flatMap((l) => (l.info === undefined ? [] : [l.info]));
  }

  /** What each host reported for `name`. */
  async hostStates(name: string): Promise<ReplicaState[]> {
    this.#check('hostStates');
    validateStoreName(name);
    return engineCall('reading the host states', () => hostStates(this.#engine, name));
  }

  // ----- materialisation --------------------------------------------------------------------------

  /**
   * Makes this host's store `name` the current generation: attaches nothing, fetches at most once
   * per host (the first caller fetches, concurrent ones wait for it). The local copy is persistent
   * unless `persistent: false`.
   */
  async pull(name: string, options?: PullOptions): Promise<PullResult> {
    this.#check('pull');
    const opts = checkObject(options, 'pull', ['persistent', 'replaceLocal', 'timeoutMs', 'signal', 'progress']);
    return this.#withDeadline(name, opts, true, (o) => this.#ensure(name, o));
  }

  /**
   * The store `name` as shmToArrays returns it, from this host's shared memory: attached at once when
   * the host has the current generation; otherwise the first process on the host fetches it (once,
   * whatever the number of processes) and the others wait and attach. Non-persistent by default: the
   * local copy then goes when the process that fetched it ends (arrays others opened stay valid).
   */
  async open(name: string, options?: OpenOptions): Promise<StoreTree & Disposable> {
    this.#check('open');
    const opts = checkObject(options, 'open', ['persistent', 'replaceLocal', 'timeoutMs', 'signal', 'progress', 'readOnly']);
    const readOnly = checkBoolean(opts.readOnly, 'readOnly', false);
    return this.#withDeadline(name, opts, false, async (o) => {
      for (let attempt = 0; ; attempt++) {
        await this.#ensure(name, o);
        try {
          return shmToArrays(name, { readOnly, format: 'ndshm' }) as StoreTree & Disposable; // `using` releases every array
        } catch (err) {
          // removed between the check and the attach (its non-persistent owner ended): once more
          if (!isNdshmError(err, 'ENOENT') || attempt >= 3) throw err;
        }
      }
    });
  }

  async #withDeadline<T>(name: string, opts: PullOptions, defaultPersistent: boolean, run: (o: EnsureOptions) => Promise<T>): Promise<T> {
    validateStoreName(name);
    const timeoutMs = ms(opts.timeoutMs, 'timeoutMs', defaultTimeoutMs, 1);
    const user = checkSignal(opts.signal, 'open');
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = user === undefined ? timeout : AbortSignal.any([user, timeout]);
    const o: EnsureOptions = {
      persistent: checkBoolean(opts.persistent, 'persistent', defaultPersistent),
      replaceLocal: checkBoolean(opts.replaceLocal, 'replaceLocal', false),
      deadline: Date.now() + timeoutMs,
      signal,
      progress: checkProgress(opts.progress, 'open'),
    };
    try {
      return await run(o);
    } catch (err) {
      if (timeout.aborted && (isNdshmError(err, 'EABORTED') || isNdshmError(err, 'ETIMEDOUT')) && !user?.aborted) {
        throw new NdshmError('ETIMEDOUT', `store "${name}": not materialised within ${timeoutMs} ms`, { segment: name, cause: err });
      }
      throw err;
    }
  }

  /** @internal The heart of open(), pull() and the agent. */
  async ensure(name: string, o: EnsureOptions): Promise<PullResult> {
    return this.#ensure(name, o);
  }

  async #ensure(name: string, o: EnsureOptions): Promise<PullResult> {
    const bucket = this.#engine.bucket;
    for (let round = 0; ; round++) {
      if (o.signal.aborted) throw abortedError(o.signal, `materialising store "${name}"`);
      const current = await this.current(name);
      if (current === undefined) throw noRemoteStore(name);
      const { checked, revision } = current;
      const m = checked.manifest;
      const result = (fetched: boolean): PullResult => ({ name, generation: m.generation, revision, bytes: m.bytes, arrays: checked.leaves.length, fetched });
      let state = localState(name);
      if (isCurrent(state, m, bucket, this.#hostId)) return result(false);
      if (!mayReplace(state, bucket, o.replaceLocal)) throw localExists(name);
      const claim = Claim.take(bucket, name);
      if (claim !== undefined) {
        try {
          state = localState(name); // someone may have finished between the check and the claim
          if (isCurrent(state, m, bucket, this.#hostId)) {
            claim.done();
            return result(false);
          }
          this.#report(o, await reportState(this.#engine, { host: this.#hostId, name, generation: m.generation, state: 'fetching', bytes: m.bytes }));
          await materialise(this.#ctx, checked, { persistent: o.persistent, revision, signal: o.signal, progress: o.progress });
          claim.done();
        } catch (err) {
          const e = isNdshmError(err) ? err : new NdshmError('EREMOTE', `fetching store "${name}": ${(err as Error).message}`, { segment: name, cause: err });
          // ENOENT about an object (its name has a "/", a store name never has): replaced meanwhile
          if (e.code === 'ENOENT' && e.segment?.includes('/') && round < 5) {
            claim.release(); // its generation was replaced meanwhile: fetch the new one
            continue;
          }
          // This process gave up (its signal, its deadline): the waiters try themselves. Any other
          // failure is the store's: they get it too, rather than each fetching in turn.
          if (e.code === 'EABORTED' || e.code === 'ETIMEDOUT') claim.release();
          else claim.fail(e, m.generation);
          if (e.code !== 'EABORTED') {
            this.#report(o, await reportState(this.#engine, { host: this.#hostId, name, generation: m.generation, state: 'failed', bytes: m.bytes, error: { code: e.code, message: e.message } }));
          }
          throw e;
        }
        this.#report(o, await reportState(this.#engine, { host: this.#hostId, name, generation: m.generation, state: 'ready', bytes: m.bytes }));
        return result(true);
      }
      const outcome = await waitForClaim(bucket, name, o.deadline, o.signal);
      if (outcome.kind === 'failed' && outcome.failure.generation === m.generation) {
        const code = (knownCodes.has(outcome.failure.code) ? outcome.failure.code : 'EREMOTE') as NdshmErrorCode;
        throw new NdshmError(code, outcome.failure.message, { segment: name });
      }
      if (outcome.kind === 'gone') await sleep(2 + Math.random() * 10);
    }
  }

  #report(o: EnsureOptions, s: ReplicaState): void {
    o.onState?.(s);
  }

  // ----- agents and barriers ----------------------------------------------------------------------

  /**
   * Starts this host's agent in this process: it watches the manifests and keeps this host's copies
   * in step (fetches new generations, unlinks removed stores). See ReplicaAgent.
   */
  async replicate(options?: ReplicateOptions): Promise<ReplicaAgent> {
    this.#check('replicate');
    const agent = await ReplicaAgent.start(this, this.#engine, options, () => this.#agents.delete(agent));
    this.#agents.add(agent);
    return agent;
  }

  /**
   * Resolves when `hosts` (a number, or the host ids) report the current generation of `name` ready,
   * with their states. A host that reports it failed rejects with its error (its code when ndshm
   * knows it); ETIMEDOUT after `timeoutMs`.
   */
  async waitReplicated(name: string, options: WaitReplicatedOptions): Promise<ReplicaState[]> {
    this.#check('waitReplicated');
    const opts = checkObject(options, 'waitReplicated', ['hosts', 'timeoutMs', 'signal']);
    validateStoreName(name);
    const hosts = opts.hosts;
    if (typeof hosts === 'number') positive(hosts, 'hosts', 1, 1);
    else if (!Array.isArray(hosts) || hosts.length === 0) throw invalid('waitReplicated: hosts must be a positive number or a list of host ids');
    else hosts.forEach((h) => checkHostId(h));
    const timeoutMs = ms(opts.timeoutMs, 'timeoutMs', 60_000, 1);
    const signal = checkSignal(opts.signal, 'waitReplicated');
    const deadline = Date.now() + timeoutMs;
    let seen: ReplicaState[] = [];
    for (let pause = 50; ; pause = Math.min(1000, pause * 2)) {
      const current = await this.current(name);
      if (current === undefined) throw noRemoteStore(name);
      const generation = current.checked.manifest.generation;
      seen = (await this.hostStates(name)).filter((s) => s.generation === generation);
      const relevant = typeof hosts === 'number' ? seen : seen.filter((s) => hosts.includes(s.host));
      const failed = relevant.find((s) => s.state === 'failed');
      if (failed !== undefined) throw hostFailure(failed);
      const ready = relevant.filter((s) => s.state === 'ready');
      if (typeof hosts === 'number' ? ready.length >= hosts : hosts.every((h) => ready.some((s) => s.host === h))) return ready;
      if (signal?.aborted) throw abortedError(signal, `waiting for store "${name}" to be replicated`);
      if (Date.now() >= deadline) {
        const want = typeof hosts === 'number' ? `${hosts} hosts` : hosts.join(', ');
        const have = seen.map((s) => `${s.host}: ${s.state}`).join(', ') || 'no host reported it';
        throw new NdshmError('ETIMEDOUT', `store "${name}" (generation ${generation}) is not ready on ${want} after ${timeoutMs} ms (${have})`, { segment: name });
      }
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
    }
  }

  // ----- garbage ----------------------------------------------------------------------------------

  /**
   * Removes objects that no manifest names (replaced or removed generations, publications that died
   * half-way) once they are older than `graceMs`, and chunks that no object owns.
   */
  async gc(options?: RemoteGcOptions): Promise<RemoteGcEntry[]> {
    this.#check('gc');
    const opts = checkObject(options, 'gc', ['graceMs', 'dryRun']);
    const graceMs = positive(opts.graceMs, 'graceMs', this.#graceMs);
    const dryRun = checkBoolean(opts.dryRun, 'dryRun', false);
    const engine = this.#engine;
    return engineCall('collecting garbage', async () => {
      const referenced = new Set<string>();
      for (const key of await listKeys(engine, 'stores', undefined, 'listing the store manifests')) {
        const name = storeOfKey(key);
        const e = await engine.stores.get(key);
        if (name === undefined || e === null || e.operation !== 'PUT') continue;
        try {
          const g = (JSON.parse(Buffer.from(e.value).toString('utf8')) as { generation?: unknown }).generation;
          if (typeof g === 'string') referenced.add(`${name}/${g}`);
        } catch {
          // a manifest nobody can read references nothing
        }
      }
      const now = Date.now();
      const infos = await listObjects(engine, 'listing the objects');
      const groups = new Map<string, { names: string[]; bytes: number; newest: number }>();
      for (const info of infos) {
        const p = parseObjectName(info.name);
        if (p === undefined || info.deleted) continue; // not an object ndshm wrote
        const gen = `${p.store}/${p.generation}`;
        if (referenced.has(gen)) continue;
        const g = groups.get(gen) ?? { names: [], bytes: 0, newest: 0 };
        g.names.push(info.name);
        g.bytes += info.size;
        g.newest = Math.max(g.newest, info.mtime);
        groups.set(gen, g);
      }
      const out: RemoteGcEntry[] = [];
      for (const [gen, g] of [...groups].sort()) {
        if (now - g.newest < graceMs) continue;
        const removed = dryRun ? false : (await deleteObjects(engine, g.names)) === g.names.length;
        out.push({ what: gen, objects: g.names.length, bytes: g.bytes, reason: 'no manifest names this generation', removed });
      }
      // Chunks of puts that died before their metadata was written (a killed publisher).
      const owners = new Set(infos.filter((i) => !i.deleted).map((i) => i.nuid));
      const si = await engine.jsm.streams.info(engine.objectStream, { subjects_filter: `$O.${engine.bucket}.C.>` });
      for (const [subject, count] of Object.entries(si.state.subjects ?? {})) {
        const nuid = subject.slice(`$O.${engine.bucket}.C.`.length);
        if (owners.has(nuid)) continue;
        const last = await engine.jsm.streams.getMessage(engine.objectStream, { last_by_subj: subject }).catch(() => null);
        if (last === null || now - last.time.getTime() < graceMs) continue;
        let removed = false;
        if (!dryRun) {
          await engine.jsm.streams.purge(engine.objectStream, { filter: subject });
          removed = true;
        }
        out.push({ what: subject, objects: 0, bytes: 0, reason: `${count} chunks that no object owns`, removed });
      }
      return out;
    });
  }

  // ----- lifetime ---------------------------------------------------------------------------------

  /** Stops this Cluster's agents and closes the connection. Pending deletions of old generations are left to gc(). */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const agent of [...this.#agents]) await agent.stop();
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#engine.nc.close().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** @internal */
export interface EnsureOptions {
  readonly persistent: boolean;
  readonly replaceLocal: boolean;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly progress?: ((done: number, total: number) => void) | undefined;
  readonly onState?: ((s: ReplicaState) => void) | undefined;
}

function remoteExists(name: string): NdshmError {
  return new NdshmError('EEXIST', `a remote store named "${name}" already exists (use overwrite to replace it)`, { segment: name });
}

function localExists(name: string): NdshmError {
  return new NdshmError('EEXIST', `this host has a store named "${name}" that is not a copy of the remote one: unlink it, or pass replaceLocal to replace it`, { segment: name });
}

const tempStoreName = (): string => `up-${randomBytes(9).toString('base64url')}`;

function withoutReplicaMark(attrs: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (k !== replicaAttr) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

