// The per-host agent (Cluster.replicate, `ndshm agent`): watches the store manifests and keeps this
// host's shared memory in step. A new generation is fetched into fresh segments, verified, and
// published locally with the store's atomic overwrite (arrays opened from the old one stay valid); a
// removed store is unlinked here. Each store has at most one task at a time; an event that arrives
// while it runs makes it run once more. A periodic resync (and a new watch whenever one ends)
// catches what a lost connection made the watch miss.
//
// The copies it makes are this process's: non-persistent ones go when it ends, kill -9 included (a
// fetch cut short leaves nothing either). With `persistent`, they stay, and a restarted agent finds
// them current and fetches nothing.

import type { KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';

import { NdshmError, invalid, isNdshmError } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { listStores } from '../stores/api.js';
import { validateStoreName } from '../stores/names.js';
import type { Cluster } from './cluster.js';
import { type Engine, listKeys, storeOfKey } from './engine.js';
import { type ReplicaState, reportState } from './hosts.js';
import { removeReplica } from './local.js';
import { replicaAttr } from './manifest.js';

export interface ReplicateOptions {
  /** The stores to keep in step: names, or '*' for all (default). */
  stores?: readonly string[] | '*';
  /** Keep the copies after the agent ends (default false: they go with it). */
  persistent?: boolean;
  /** Replace local stores of the same name that are not copies of this cluster's (default false: 'failed' with EEXIST). */
  replaceLocal?: boolean;
  /** Every state change of a store on this host. */
  onEvent?: (state: ReplicaState) => void;
  /** How often all manifests are compared with the local copies anyway (default 30 s). */
  resyncMs?: number;
}

const transient = new Set(['EREMOTE', 'ETIMEDOUT']);

export class ReplicaAgent implements AsyncDisposable {
  readonly host: string;
  readonly #cluster: Cluster;
  readonly #engine: Engine;
  readonly #stores: ReadonlySet<string> | undefined;
  readonly #persistent: boolean;
  readonly #replaceLocal: boolean;
  readonly #onEvent: ((s: ReplicaState) => void) | undefined;
  readonly #onStop: () => void;
  readonly #ac = new AbortController();
  readonly #tasks = new Map<string, { dirty: boolean; done: Promise<void> }>();
  readonly #states = new Map<string, ReplicaState>();
  readonly #retryTimers = new Map<string, NodeJS.Timeout>();
  readonly #backoff = new Map<string, number>();
  readonly #made = new Set<string>();
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #watching: Promise<void> | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(cluster: Cluster, engine: Engine, o: { stores: ReadonlySet<string> | undefined; persistent: boolean; replaceLocal: boolean; onEvent: ((s: ReplicaState) => void) | undefined; resyncMs: number }, onStop: () => void) {
    this.host = cluster.hostId;
    this.#cluster = cluster;
    this.#engine = engine;
    this.#stores = o.stores;
    this.#persistent = o.persistent;
    this.#replaceLocal = o.replaceLocal;
    this.#onEvent = o.onEvent;
    this.#onStop = onStop;
  }

  /** @internal Cluster.replicate() starts agents. */
  static async start(cluster: Cluster, engine: Engine, options: ReplicateOptions | undefined, onStop: () => void): Promise<ReplicaAgent> {
    const opts = checkOptions(options, ['stores', 'persistent', 'replaceLocal', 'onEvent', 'resyncMs'], 'replicate');
    let stores: Set<string> | undefined;
    if (opts.stores !== undefined && opts.stores !== '*') {
      if (!Array.isArray(opts.stores)) throw invalid("replicate: stores must be a list of store names or '*'");
      stores = new Set(opts.stores.map((s) => validateStoreName(s)));
    }
    if (opts.onEvent !== undefined && typeof opts.onEvent !== 'function') throw invalid('replicate: onEvent must be a function');
    const resyncMs = opts.resyncMs ?? 30_000;
    if (typeof resyncMs !== 'number' || !Number.isFinite(resyncMs) || resyncMs < 10 || resyncMs > 0x7fffffff) throw invalid('replicate: resyncMs must be a number of milliseconds, from 10 to 2**31 - 1');
    const agent = new ReplicaAgent(
      cluster,
      engine,
      { stores, persistent: checkBoolean(opts.persistent, 'persistent', false), replaceLocal: checkBoolean(opts.replaceLocal, 'replaceLocal', false), onEvent: opts.onEvent, resyncMs },
      onStop,
    );
    await agent.#startWatch();
    await agent.#resync();
    agent.#resyncTimer = setInterval(() => void agent.#resync(), resyncMs);
    agent.#resyncTimer.unref();
    return agent;
  }

  /** The last state of each store on this host. */
  status(): ReplicaState[] {
    return [...this.#states.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Resolves when no store task is running (for tests and scripts: everything seen so far is done). */
  async idle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks.values()].map((t) => t.done));
  }

  #wants(name: string): boolean {
    return this.#stores === undefined || this.#stores.has(name);
  }

  async #startWatch(): Promise<void> {
    const watch = await this.#engine.stores.watch().catch((err: unknown) => {
      throw new NdshmError('EREMOTE', `cannot watch the store manifests: ${(err as Error).message}`, { cause: err });
    });
    this.#watch = watch;
    this.#watching = (async () => {
      try {
        for await (const e of watch) {
          const name = storeOfKey(e.key);
          if (name !== undefined && this.#wants(name)) this.#schedule(name);
        }
      } catch {
        // the watch broke (connection lost): a new one below, and the resync meanwhile
      }
      if (this.#stopped) return;
      for (let pause = 500; !this.#stopped; pause = Math.min(10_000, pause * 2)) {
        await new Promise((r) => setTimeout(r, pause).unref());
        if (this.#stopped) return;
        try {
          await this.#startWatch();
          void this.#resync();
          return;
        } catch {
          // still away
        }
      }
    })();
  }

  /** Every store the manifests name, and every local copy of this bucket's, gets a task. */
  async #resync(): Promise<void> {
    if (this.#stopped) return;
    try {
      const names = new Set<string>();
      for (const key of await listKeys(this.#engine, 'stores', undefined, 'listing the store manifests')) {
        const name = storeOfKey(key);
        if (name !== undefined && this.#wants(name)) names.add(name);
      }
      for (const info of listStores()) {
        const mark = info.attrs[replicaAttr] as { bucket?: unknown } | undefined;
        if (info.format === 'ndshm' && mark?.bucket === this.#engine.bucket && this.#wants(info.name)) names.add(info.name);
      }
      for (const name of names) this.#schedule(name);
    } catch {
      // the engine is away: the next resync
    }
  }

  #schedule(name: string): void {
    if (this.#stopped) return;
    const running = this.#tasks.get(name);
    if (running !== undefined) {
      running.dirty = true;
      return;
    }
    const retry = this.#retryTimers.get(name);
    if (retry !== undefined) {
      clearTimeout(retry);
      this.#retryTimers.delete(name);
    }
    const task = { dirty: false, done: Promise.resolve() };
    this.#tasks.set(name, task);
    task.done = (async () => {
      do {
        task.dirty = false;
        await this.#sync(name);
      } while (task.dirty && !this.#stopped);
      this.#tasks.delete(name);
    })();
  }

  #emit(s: ReplicaState): void {
    this.#states.set(s.name, s);
    try {
      this.#onEvent?.(s);
    } catch {
      // a listener's failure is not the agent's
    }
  }

  async #sync(name: string): Promise<void> {
    const previous = this.#states.get(name);
    let generation = previous?.generation ?? '';
    let bytes = previous?.bytes ?? 0;
    try {
      const current = await this.#cluster.current(name);
      if (current === undefined) {
        const removed = removeReplica(name, this.#engine.bucket);
        this.#made.delete(name);
        if (removed || (previous !== undefined && previous.state !== 'removed')) {
          this.#emit(await reportState(this.#engine, { host: this.host, name, generation: '', state: 'removed', bytes: 0 }));
        }
        this.#backoff.delete(name);
        return;
      }
      generation = current.checked.manifest.generation;
      bytes = current.checked.manifest.bytes;
      let reported = false;
      const r = await this.#cluster.ensure(name, {
        persistent: this.#persistent,
        replaceLocal: this.#replaceLocal,
        deadline: Date.now() + 10 * 60_000, // waiting for another process's fetch: ETIMEDOUT, then retried
        signal: this.#ac.signal,
        onState: (s) => {
          reported = true;
          this.#emit(s);
        },
      });
      if (r.fetched) this.#made.add(name);
      this.#backoff.delete(name);
      const last = this.#states.get(name);
      if (!reported && (last === undefined || last.state !== 'ready' || last.generation !== r.generation)) {
        this.#emit(await reportState(this.#engine, { host: this.host, name, generation: r.generation, state: 'ready', bytes: r.bytes }));
      }
    } catch (err) {
      if (this.#stopped) return;
      const e = isNdshmError(err) ? err : new NdshmError('EREMOTE', String(err), { cause: err });
      const last = this.#states.get(name);
      if (last?.state !== 'failed' || last.generation !== generation || last.error?.code !== e.code) {
        this.#emit(await reportState(this.#engine, { host: this.host, name, generation, state: 'failed', bytes, error: { code: e.code, message: e.message } }));
      }
      if (transient.has(e.code)) {
        // the engine was away: try again, later and later; a new generation or the resync also does
        const pause = Math.min(30_000, (this.#backoff.get(name) ?? 500) * 2);
        this.#backoff.set(name, pause);
        const timer = setTimeout(() => {
          this.#retryTimers.delete(name);
          this.#schedule(name);
        }, pause);
        timer.unref();
        this.#retryTimers.set(name, timer);
      }
    }
  }

  /**
   * Stops watching, cancels fetches in progress (nothing of them stays) and waits for the tasks. The
   * non-persistent copies this agent made are removed (arrays already open stay valid) and reported
   * 'removed'; persistent ones stay.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#onStop();
    clearInterval(this.#resyncTimer);
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    this.#ac.abort(new NdshmError('EABORTED', 'the agent stopped'));
    this.#watch?.stop();
    await Promise.all([...this.#tasks.values()].map((t) => t.done.catch(() => undefined)));
    await this.#watching?.catch(() => undefined);
    if (!this.#persistent) {
      for (const name of this.#made) {
        let removed = false;
        try {
          removed = removeReplica(name, this.#engine.bucket);
        } catch {
          // something else is under that name now (EFTYPE, EACCES): not the agent's to remove
        }
        if (removed) this.#emit(await reportState(this.#engine, { host: this.host, name, generation: '', state: 'removed', bytes: 0 }));
      }
    }
    this.#made.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
