// The engine: NATS with JetStream, through the official nats.js v3 client (the optional peer
// dependencies of ndshm/cluster). Everything ndshm says to the engine goes through the objects this
// module opens: one connection, the object store that holds segment bytes, the key/value bucket of
// store manifests and the one of host states. Every failure of the client becomes an NdshmError
// (EREMOTE, the NATS error as its cause), and names become keys here.
//
// Buckets, for a prefix P (default "ndshm"):
//   P          object store: one object per store segment, "<store>/<generation>/<index>"
//   P-stores   key/value: store key -> remote manifest (the pointer that publication sets last)
//   P-hosts    key/value: "<host key>.<store key>" -> that host's ReplicaState for the store

import { DeliverPolicy, type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type ObjectStore, Objm, setSha256Backend } from '@nats-io/obj';
import { type NatsConnection, type NodeConnectionOptions, connect } from '@nats-io/transport-node';

import { NdshmError, invalid, isNdshmError, show } from '../errors.js';
import { validateName } from '../segment/names.js';
import { validateStoreName } from '../stores/names.js';

// nats.js hashes objects in pure JavaScript by default (browser-safe); Node's own SHA-256 is many
// times faster. The setting is process-wide: ndshm/cluster selects it when it is loaded.
setSha256Backend('native');

export { DeliverPolicy };

export interface Engine {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly os: ObjectStore;
  readonly stores: KV;
  readonly hosts: KV;
  /** The bucket prefix; the object store's name. */
  readonly bucket: string;
  /** The JetStream stream behind the object store ("OBJ_" + bucket, ADR-20). */
  readonly objectStream: string;
  /** The server's max_payload: no message (chunk, manifest) may be larger. */
  readonly maxPayload: number;
}

export interface EngineOptions {
  bucket: string;
  replicas: number;
  connection: NodeConnectionOptions;
}

/** An EREMOTE error for a failed engine operation (an NdshmError passes through unchanged). */
export function remoteError(err: unknown, what: string, segment?: string): NdshmError {
  if (isNdshmError(err)) return err;
  const message = err instanceof Error ? err.message : show(err);
  return new NdshmError('EREMOTE', `${what}: ${message.split('\n')[0]}`, { cause: err, ...(segment === undefined ? {} : { segment }) });
}

/** Runs an engine operation; whatever it throws comes out as an NdshmError. */
export async function engineCall<T>(what: string, fn: () => Promise<T>, segment?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw remoteError(err, what, segment);
  }
}

const bucketRe = /^[A-Za-z0-9_-]{1,48}$/;

export function checkBucket(bucket: unknown): string {
  if (typeof bucket !== 'string' || !bucketRe.test(bucket)) {
    throw invalid(`bucket must be 1-48 characters from [A-Za-z0-9_-], got ${show(bucket)}`);
  }
  return bucket;
}

export async function openEngine(options: EngineOptions): Promise<Engine> {
  const { bucket, replicas } = options;
  const servers = options.connection.servers ?? '127.0.0.1:4222';
  const shown = Array.isArray(servers) ? servers.join(', ') : String(servers);
  const nc = await engineCall(`cannot connect to the NATS server at ${shown}`, () => connect(options.connection));
  try {
    const where = `NATS server ${nc.getServer()}`;
    const js = jetstream(nc);
    const jsm = await engineCall(`${where} has no JetStream (start it with -js, or "jetstream {}" in its configuration)`, () => jetstreamManager(nc));
    const os = await engineCall(`cannot open the object store "${bucket}" on ${where}`, () => new Objm(js).create(bucket, { replicas }));
    const kvm = new Kvm(js);
    const stores = await engineCall(`cannot open the bucket "${bucket}-stores" on ${where}`, () => kvm.create(`${bucket}-stores`, { history: 1, replicas }));
    const hosts = await engineCall(`cannot open the bucket "${bucket}-hosts" on ${where}`, () => kvm.create(`${bucket}-hosts`, { history: 1, replicas }));
    const maxPayload = nc.info?.max_payload ?? 1 << 20;
    return { nc, js, jsm, os, stores, hosts, bucket, objectStream: `OBJ_${bucket}`, maxPayload };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The keys of a KV bucket that hold (or held) a value, matching `filter` (a subject pattern, "*" one
 * token). One STREAM.INFO request with a subjects filter (paged by nats.js), not nats.js's `kv.keys()`:
 * that one starts an ordered push consumer whose server-side consumer pushes before the client
 * subscribes, so a listing could lose the first keys and then wait for a 30 s heartbeat (seen in CI).
 * A deleted key still has its tombstone: callers read each key and skip those not 'PUT'. Given up
 * after `timeoutMs`: EREMOTE, never a hang.
 */
export async function listKeys(engine: Engine, kv: 'stores' | 'hosts', filter: string | undefined, what: string, timeoutMs = 30_000): Promise<string[]> {
  const bucket = `${engine.bucket}-${kv}`;
  const prefix = `$KV.${bucket}.`;
  const info = await withinMs(
    engineCall(what, () => engine.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter ?? '>'}` })),
    timeoutMs,
    what,
  );
  const subjects = info.state.subjects ?? {};
  return Object.keys(subjects)
    .filter((s) => s.startsWith(prefix) && s.length > prefix.length)
    .map((s) => s.slice(prefix.length));
}

/** An object of the object store, as its metadata message says (untrusted: fields checked). */
export interface ObjectEntry {
  readonly name: string;
  readonly nuid: string;
  readonly size: number;
  /** Milliseconds since the epoch. */
  readonly mtime: number;
  readonly deleted: boolean;
}

/**
 * Every object of the object store, from its last metadata message: one STREAM.INFO request for the
 * metadata subjects, then one direct read per object. Not nats.js's `os.list()`, which watches through
 * the same ordered push consumer as `kv.keys()` and could miss an object (whose chunks gc would then
 * take for orphans). Metadata nobody can parse is left out.
 */
export async function listObjects(engine: Engine, what: string, timeoutMs = 60_000): Promise<ObjectEntry[]> {
  const prefix = `$O.${engine.bucket}.M.`;
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const si = await withinMs(engineCall(what, () => engine.jsm.streams.info(engine.objectStream, { subjects_filter: `${prefix}>` })), left(), what);
  const out: ObjectEntry[] = [];
  for (const subject of Object.keys(si.state.subjects ?? {})) {
    const m = await withinMs(engineCall(what, () => engine.jsm.streams.getMessage(engine.objectStream, { last_by_subj: subject })), left(), what);
    if (m === null) continue;
    let o: unknown;
    try {
      o = m.json();
    } catch {
      continue;
    }
    if (typeof o !== 'object' || o === null) continue;
    const { name, nuid, size, mtime, deleted } = o as Record<string, unknown>;
    if (typeof name !== 'string' || typeof nuid !== 'string') continue;
    const at = typeof mtime === 'string' ? Date.parse(mtime) : Number.NaN;
    out.push({
      name,
      nuid,
      size: typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : 0,
      mtime: Number.isFinite(at) ? at : m.time.getTime(),
      deleted: deleted === true,
    });
  }
  return out;
}

/** `p`, or EREMOTE after `timeoutMs`. */
export async function withinMs<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new NdshmError('EREMOTE', `${what}: no answer within ${timeoutMs} ms`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

// ----- keys -----------------------------------------------------------------------------------------
//
// Store names and host ids are 1-30 (24) characters from [A-Za-z0-9._-], not only dots. A KV key is
// a NATS subject: dots separate tokens, and a token may not be empty. Every dot becomes "=2E" (KV
// allows "=", names do not), so a name is always exactly one token.

const encodeToken = (name: string): string => name.replaceAll('.', '=2E');

/** The manifest key of a store. */
export function storeKey(name: string): string {
  return encodeToken(validateStoreName(name));
}

/** The store a manifest key names, or undefined for a key that no valid store name encodes to. */
export function storeOfKey(key: unknown): string | undefined {
  if (typeof key !== 'string' || key.length > 24 * 3) return undefined;
  const name = key.replaceAll('=2E', '.');
  try {
    validateStoreName(name);
  } catch {
    return undefined;
  }
  return encodeToken(name) === key ? name : undefined;
}

export const maxHostIdLength = 64;

export function checkHostId(host: unknown): string {
  return validateName(host, 'host id', maxHostIdLength);
}

/** A host id made from os.hostname(): characters outside the name rule become "-". */
export function hostIdFrom(hostname: string): string {
  const id = hostname.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, maxHostIdLength);
  return /^\.*$/.test(id) ? 'localhost' : id;
}

/** The key of a host's state for a store. */
export function hostStateKey(host: string, store: string): string {
  return `${encodeToken(host)}.${storeKey(store)}`;
}

/** [host, store] of a host-state key, or undefined for a key ndshm would not write. */
export function parseHostStateKey(key: unknown): [host: string, store: string] | undefined {
  if (typeof key !== 'string') return undefined;
  const parts = key.split('.');
  if (parts.length !== 2) return undefined;
  const host = parts[0]!.replaceAll('=2E', '.');
  const store = storeOfKey(parts[1]);
  if (store === undefined) return undefined;
  try {
    checkHostId(host);
  } catch {
    return undefined;
  }
  return encodeToken(host) === parts[0] ? [host, store] : undefined;
}

// ----- objects --------------------------------------------------------------------------------------

/** The subject that holds an object's chunks (ADR-20): "$O.<bucket>.C.<nuid>". */
export function chunkSubject(engine: Engine, nuid: string): string {
  return `$O.${engine.bucket}.C.${nuid}`;
}

/**
 * The raw SHA-256 an object's digest field names ("SHA-256=" and base64url, padded or not, as
 * ADR-20 and nats.js write it), or undefined when it is not one.
 */
export function parseObjectDigest(digest: unknown): Buffer | undefined {
  if (typeof digest !== 'string' || !digest.startsWith('SHA-256=')) return undefined;
  const text = digest.slice(8).replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return undefined;
  const raw = Buffer.from(text, 'base64url');
  return raw.length === 32 ? raw : undefined;
}
