// Host states: every host that materialises a store (its agent, or a process that fetched it with
// open() or pull) writes what it has into the "<prefix>-hosts" bucket, under "<host>.<store>". The
// barrier waitReplicated() reads them. Values come from other hosts: they are checked like any
// untrusted input, and malformed ones are ignored.

import { NdshmError, show } from '../errors.js';
import { type Engine, hostStateKey, listKeys, parseHostStateKey } from './engine.js';

export type ReplicaStateName = 'fetching' | 'ready' | 'failed' | 'removed';

export interface ReplicaState {
  readonly host: string;
  readonly name: string;
  /** The generation the state is about ('' for 'removed'). */
  readonly generation: string;
  readonly state: ReplicaStateName;
  /** Bytes of the store (of the generation). */
  readonly bytes: number;
  /** When the host wrote the state. */
  readonly at: Date;
  /** The process on that host that wrote it. */
  readonly pid: number;
  /** For 'failed': the error's code and message. */
  readonly error?: { readonly code: string; readonly message: string };
}

const states = new Set<string>(['fetching', 'ready', 'failed', 'removed']);

export function encodeState(s: ReplicaState): string {
  return JSON.stringify({ ...s, at: s.at.getTime() });
}

/** A state read from the bucket under `key`, or undefined if it is not one ndshm would write. */
export function decodeState(key: string, value: Uint8Array): ReplicaState | undefined {
  const names = parseHostStateKey(key);
  if (names === undefined || value.length > 64 << 10) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const [host, name] = names;
  const { generation, state, bytes, at, pid, error } = v;
  if (v['host'] !== host || v['name'] !== name || typeof generation !== 'string' || generation.length > 64) return undefined;
  if (typeof state !== 'string' || !states.has(state)) return undefined;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0 || typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid)) return undefined;
  let err: { code: string; message: string } | undefined;
  if (error !== undefined) {
    const e = error as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || typeof e['code'] !== 'string' || typeof e['message'] !== 'string') return undefined;
    err = { code: e['code'].slice(0, 32), message: e['message'].slice(0, 2000) };
  }
  return { host, name, generation, state: state as ReplicaStateName, bytes, at: new Date(at), pid, ...(err === undefined ? {} : { error: err }) };
}

/** Writes this host's state for a store. Best effort: an unreachable engine is not the caller's failure. */
export async function reportState(engine: Engine, s: Omit<ReplicaState, 'at' | 'pid'>): Promise<ReplicaState> {
  const full: ReplicaState = { ...s, at: new Date(), pid: process.pid };
  try {
    await engine.hosts.put(hostStateKey(s.host, s.name), encodeState(full));
  } catch {
    // the engine is away; the state is written again at the next change
  }
  return full;
}

/** The states every host reported for `store`. */
export async function hostStates(engine: Engine, store: string): Promise<ReplicaState[]> {
  const out: ReplicaState[] = [];
  const suffix = `.${hostStateKey('x', store).split('.')[1]}`;
  for (const key of await listKeys(engine, 'hosts', `*${suffix}`, 'listing the host states')) {
    const e = await engine.hosts.get(key);
    if (e === null || e.operation !== 'PUT') continue;
    const s = decodeState(key, e.value);
    if (s !== undefined) out.push(s);
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

export function hostFailure(s: ReplicaState): NdshmError {
  const known = ['ENOSPC', 'EDIGEST', 'EBADHEADER', 'EREMOTE', 'ETIMEDOUT', 'EEXIST', 'EACCES', 'EFTYPE', 'ETOOBIG', 'ENOENT'] as const;
  const code = (known as readonly string[]).includes(s.error?.code ?? '') ? (s.error!.code as (typeof known)[number]) : 'EREMOTE';
  return new NdshmError(code, `host ${show(s.host)} failed to replicate store "${s.name}" (generation ${s.generation}): ${s.error?.message ?? 'no reason given'}`, { segment: s.name });
}
