// Shared pieces of the cluster tests: the server per test file, simulated hosts and their workers,
// test data.

import { createHash } from 'node:crypto';
import { after, before } from 'node:test';

import { Cluster, type ClusterOptions } from '../../src/cluster/index.js';
import type { Child } from '../helpers/child.js';
import { SimHost, hostsSkipReason } from './hosts.js';
import { NatsServer, skipReason } from './server.js';

export const worker = '../cluster/children/worker.js';

/** Why this file's tests cannot run (no nats-server, no namespaces), or undefined. */
export function clusterSkip(needsHosts = true): string | undefined {
  return skipReason() ?? (needsHosts ? hostsSkipReason() : undefined);
}

/**
 * Starts a server before the file's tests and removes it after them; `hosts` made through the
 * returned object are stopped too.
 */
export function clusterFixture(skip: string | undefined): { server: () => NatsServer; host: (id: string, shmSize?: string) => Promise<SimHost>; connect: (o?: ClusterOptions) => Promise<Cluster> } {
  let server: NatsServer | undefined;
  const hosts: SimHost[] = [];
  const clusters: Cluster[] = [];
  before(async () => {
    if (skip === undefined) server = await NatsServer.start();
  });
  after(async () => {
    for (const c of clusters) await c.close().catch(() => undefined);
    for (const h of hosts) await h.stop();
    await server?.destroy();
  });
  return {
    server: () => server!,
    host: async (id, shmSize) => {
      const h = await SimHost.start(id, shmSize);
      hosts.push(h);
      return h;
    },
    connect: async (o = {}) => {
      const c = await Cluster.connect({ servers: server!.url, ...o });
      clusters.push(c);
      return c;
    },
  };
}

export interface Opened {
  op: 'opened';
  name: string;
  fetched: number;
  generation: string;
  digests: Record<string, string>;
  sum: number;
}

export interface WorkerMessage {
  op: string;
  code?: string;
  message?: string;
  [key: string]: unknown;
}

/** `p`, or an error naming `what` after `ms` (so that a hang is a failure that says where it was). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a worker on `host` connected with `options`; resolves once it is connected. */
export async function startWorker(host: SimHost, options: ClusterOptions): Promise<Child> {
  const child = host.spawn(worker, [JSON.stringify(options)]);
  const first = await within(child.message<WorkerMessage>((m) => m.op === 'ready' || m.op === 'error'), 60_000, `a worker starting on host ${host.id}`);
  if (first.op !== 'ready') throw new Error(`worker on ${host.id} failed: ${first.code} ${first.message}`);
  return child;
}

/** Sends a command and waits for the answer with op `reply` (or an error). */
export async function ask<T = WorkerMessage>(child: Child, command: Record<string, unknown>, reply: string, timeoutMs = 90_000): Promise<T> {
  child.send(JSON.stringify(command));
  const m = await within(child.message<WorkerMessage>((x) => x.op === reply || x.op === 'error'), timeoutMs, `worker ${child.process.pid} answering ${JSON.stringify(command)}`);
  return m as T;
}

/** Asks the worker to exit and waits for it. */
export async function exitWorker(child: Child): Promise<void> {
  child.send(JSON.stringify({ op: 'exit' }));
  const e = await child.exited;
  if (e.code !== 0) throw new Error(`worker exited with ${e.code ?? e.signal}: ${e.stderr}`);
}

/** Float64 test data: element i = i * 0.5 + seed. */
export function float64Data(count: number, seed = 0): Float64Array {
  const a = new Float64Array(count);
  for (let i = 0; i < count; i++) a[i] = i * 0.5 + seed;
  return a;
}

export const sha256 = (view: ArrayBufferView): string => createHash('sha256').update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)).digest('hex');

/** Waits for an agent event that satisfies `predicate`. */
export interface EventState {
  name: string;
  state: string;
  generation: string;
  /** ISO time (the state as JSON). */
  at: string;
  error?: { code: string; message: string };
}

export async function event(child: Child, predicate: (state: EventState) => boolean, timeoutMs = 90_000): Promise<EventState> {
  const m = await within(child.message<{ op: string; state: EventState }>((x) => x.op === 'event' && predicate(x.state)), timeoutMs, `an event of agent ${child.process.pid} (${predicate.toString()})`);
  return m.state;
}

let bucketSeq = 0;
/** A bucket prefix of its own for each test, so that tests do not see each other's stores. */
export const freshBucket = (tag: string): string => `t${process.pid.toString(36)}${(bucketSeq++).toString(36)}-${tag}`.slice(0, 40);
