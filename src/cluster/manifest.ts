// The remote manifest: what the "<prefix>-stores" bucket holds for a store (docs/cluster.md has the
// schema). It is ndshm's store manifest (docs/format.md) with host-local facts taken out: no segment
// names, ids or owner, but per segment the object that holds its element bytes, their length and their
// SHA-256. Every host writes its own headers and names its own segments.
//
// A remote manifest is untrusted input: anybody who can write to the bucket can write one. It is
// checked here in full before anything is allocated: the schema below, then every check of
// docs/format.md (by running the local manifest decoder on the same tree and attributes), then each
// array against the bytes of its segment, and the totals against the host's byte cap.

import { type DType, dtype as toDType } from '../dtype.js';
import { NdshmError, isNdshmError, show } from '../errors.js';
import { type Order, isContiguous } from '../ndarray/layout.js';
import { elementCount } from '../shape.js';
import { type Attrs, decodeAttrs } from '../stores/attrs.js';
import { type LeafEntry, type Manifest, type TreeNode, decodeManifest, encodeManifest, forEachLeaf } from '../stores/manifest.js';

export const remoteFormatVersion = 1;

/** The store attribute that marks a local store as a replica (docs/cluster.md). */
export const replicaAttr = 'ndshm.remote';

/** A remote manifest larger than this is refused before it is parsed. */
export const maxRemoteManifestBytes = 16 << 20;

export interface RemoteSegment {
  /** The object that holds the segment's element bytes: "<store>/<generation>/<index>". */
  readonly object: string;
  readonly bytes: number;
  /** SHA-256 of the element bytes, 64 lowercase hex digits. */
  readonly sha256: string;
}

export interface RemoteManifest {
  ndshm_remote: 1;
  name: string;
  generation: string;
  created: number;
  publisher: { host: string; pid: number };
  /** The local store it was published from: that host then holds this generation already. */
  source?: { host: string; created: number; segments: string[] };
  attrs: Record<string, unknown>;
  bytes: number;
  segments: RemoteSegment[];
  tree: { [key: string]: TreeNode };
}

/** An array of a checked remote manifest, as a StoreBuilder declares it. */
export interface RemoteLeaf {
  readonly path: string[];
  readonly dtype: DType;
  readonly shape: number[];
  readonly order: Order;
  readonly attrs: Attrs;
  /** Its bytes in the remote segment: [offset, offset + nbytes). */
  readonly segment: number;
  readonly offset: number;
  readonly nbytes: number;
}

export interface CheckedRemote {
  readonly manifest: RemoteManifest;
  readonly leaves: readonly RemoteLeaf[];
  /** The store's own attributes, decoded. */
  readonly attrs: Attrs;
  /** Bytes to fetch (all segments) and to allocate (all arrays). */
  readonly fetchBytes: number;
  readonly allocBytes: number;
}

const generationRe = /^[A-Za-z0-9]{1,64}$/;
const sha256Re = /^[0-9a-f]{64}$/;
const segmentIdRe = /^[0-9a-f]{1,16}$/;

export const objectName = (store: string, generation: string, index: number): string => `${store}/${generation}/${index}`;

/** { store, generation, index } of an object name ndshm writes, or undefined. */
export function parseObjectName(name: string): { store: string; generation: string; index: number } | undefined {
  const m = /^([A-Za-z0-9._-]{1,24})\/([A-Za-z0-9]{1,64})\/(0|[1-9][0-9]{0,8})$/.exec(name);
  return m === null ? undefined : { store: m[1]!, generation: m[2]!, index: Number(m[3]) };
}

export function encodeRemote(m: RemoteManifest): Uint8Array {
  return Buffer.from(JSON.stringify(m), 'utf8');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function bad(store: string, why: string): NdshmError {
  return new NdshmError('EBADHEADER', `the remote manifest of store "${store}" is refused: ${why}`, { segment: store });
}

/**
 * Parses and checks the remote manifest of `store` (bytes from the engine). `maxBytes` caps what it
 * may make this host fetch and allocate. EBADHEADER for anything wrong; nothing is allocated here.
 */
export function decodeRemote(bytes: Uint8Array, store: string, maxBytes: number): CheckedRemote {
  if (bytes.length > maxRemoteManifestBytes) throw bad(store, `${bytes.length} bytes, more than ${maxRemoteManifestBytes}`);
  let m: RemoteManifest;
  try {
    m = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as RemoteManifest;
  } catch (err) {
    throw bad(store, `not JSON (${(err as Error).message})`);
  }
  if (!isObject(m) || m.ndshm_remote !== remoteFormatVersion) throw bad(store, 'not an ndshm remote manifest (version 1)');
  if (m.name !== store) throw bad(store, `it names store ${show(m.name)}`);
  if (typeof m.generation !== 'string' || !generationRe.test(m.generation)) throw bad(store, `bad generation ${show(m.generation)}`);
  if (typeof m.created !== 'number' || !Number.isFinite(m.created)) throw bad(store, 'created is not a time');
  if (!isObject(m.publisher) || typeof m.publisher.host !== 'string' || m.publisher.host.length > 255 || !isInt(m.publisher.pid)) {
    throw bad(store, 'publisher is not { host, pid }');
  }
  if (m.source !== undefined) {
    const s = m.source;
    if (!isObject(s) || typeof s.host !== 'string' || typeof s.created !== 'number' || !Array.isArray(s.segments) || !s.segments.every((id) => typeof id === 'string' && segmentIdRe.test(id))) {
      throw bad(store, 'source is not { host, created, segments }');
    }
  }
  if (!isObject(m.attrs)) throw bad(store, 'attrs is not an object');
  if (!Array.isArray(m.segments)) throw bad(store, 'segments is not a list');
  if (m.segments.length > 1_000_000) throw bad(store, `${m.segments.length} segments`);
  let fetchBytes = 0;
  m.segments.forEach((s, i) => {
    if (!isObject(s)) throw bad(store, `segments[${i}] is not an object`);
    if (s.object !== objectName(store, m.generation, i)) throw bad(store, `segments[${i}] names object ${show(s.object)}, not ${show(objectName(store, m.generation, i))}`);
    if (!isInt(s.bytes)) throw bad(store, `segments[${i}] has a bad size`);
    if (typeof s.sha256 !== 'string' || !sha256Re.test(s.sha256)) throw bad(store, `segments[${i}] has a bad sha256`);
    fetchBytes += s.bytes;
  });
  if (!isInt(m.bytes) || m.bytes !== fetchBytes) throw bad(store, `bytes ${show(m.bytes)} is not the sum of its segments' (${fetchBytes})`);
  if (fetchBytes > maxBytes) throw bad(store, `its segments hold ${fetchBytes} bytes, more than this host's cap of ${maxBytes} (maxStoreBytes)`);
  if (!isObject(m.tree)) throw bad(store, 'tree is not an object');

  // Every check a local manifest passes: keys, nesting, dtypes, shapes, strides, offsets, attributes.
  const local: Manifest = {
    ndshm_store: 1,
    name: store,
    created: m.created,
    persistent: false,
    owner: { pid: 0, start: 0 },
    attrs: m.attrs,
    segments: m.segments.map((_, i) => ({ name: `sd-r${i}`, id: '1' })),
    tree: m.tree,
  };
  try {
    decodeManifest(encodeManifest(local), store);
  } catch (err) {
    // JSON.stringify of a tree or attributes nested deeper than the stack: a RangeError
    if (!isNdshmError(err)) throw bad(store, `it is nested too deeply to read (${err instanceof Error ? err.message : String(err)})`);
    throw bad(store, err.message.replace(/^the manifest of store "[^"]*" is corrupt: /, ''));
  }

  // Each array against its segment's bytes: contiguous (C or Fortran order, as ndshm writes them),
  // inside the segment, not overlapping another.
  const leaves: RemoteLeaf[] = [];
  let allocBytes = 0;
  forEachLeaf(m.tree, (path, leaf: LeafEntry) => {
    const where = path.join('/');
    const dt = toDType(leaf.dtype);
    if (dt.typestr !== leaf.dtype) throw bad(store, `${where}: dtype ${show(leaf.dtype)} is not one of the format's typestrs`);
    if (!leaf.strides.every((s) => s % dt.itemsize === 0)) throw bad(store, `${where}: strides are not multiples of the item size`);
    const layout = { shape: leaf.shape, strides: leaf.strides.map((s) => s / dt.itemsize) };
    const order: Order | undefined = isContiguous(layout, 'C') ? 'C' : isContiguous(layout, 'F') ? 'F' : undefined;
    if (order === undefined) throw bad(store, `${where}: not a contiguous array (C or Fortran order)`);
    const nbytes = elementCount(leaf.shape) * dt.itemsize;
    const segBytes = m.segments[leaf.segment]!.bytes;
    if (nbytes > 0 && leaf.offset + nbytes > segBytes) throw bad(store, `${where}: bytes ${leaf.offset} to ${leaf.offset + nbytes} lie past the end of segment ${leaf.segment} (${segBytes} bytes)`);
    allocBytes += nbytes;
    if (allocBytes > maxBytes) throw bad(store, `its arrays hold more than this host's cap of ${maxBytes} bytes (maxStoreBytes)`);
    leaves.push({
      path,
      dtype: dt,
      shape: [...leaf.shape],
      order,
      attrs: decodeAttrs(leaf.attrs ?? {}, `${store}/${where}`) as Attrs,
      segment: leaf.segment,
      offset: leaf.offset,
      nbytes,
    });
  });
  const bySegment = [...leaves].filter((l) => l.nbytes > 0).sort((a, b) => a.segment - b.segment || a.offset - b.offset);
  for (let i = 1; i < bySegment.length; i++) {
    const a = bySegment[i - 1]!;
    const b = bySegment[i]!;
    if (a.segment === b.segment && b.offset < a.offset + a.nbytes) throw bad(store, `${a.path.join('/')} and ${b.path.join('/')} overlap`);
  }
  const attrs = decodeAttrs(m.attrs, `store "${store}"`) as Attrs;
  return { manifest: m, leaves, attrs, fetchBytes, allocBytes };
}

/** What info() and list() report about a remote store. */
export interface RemoteStoreInfo {
  readonly name: string;
  readonly generation: string;
  /** The KV revision of the manifest: it grows with every publication. */
  readonly revision: number;
  readonly bytes: number;
  readonly created: Date;
  readonly publisher: { readonly host: string; readonly pid: number };
  readonly segments: readonly RemoteSegment[];
  readonly arrays: readonly { readonly path: readonly string[]; readonly dtype: string; readonly shape: readonly number[]; readonly bytes: number }[];
  readonly attrs: Attrs;
}

export function remoteInfo(checked: CheckedRemote, revision: number): RemoteStoreInfo {
  const m = checked.manifest;
  return {
    name: m.name,
    generation: m.generation,
    revision,
    bytes: m.bytes,
    created: new Date(m.created),
    publisher: { host: m.publisher.host, pid: m.publisher.pid },
    segments: m.segments.map((s) => ({ object: s.object, bytes: s.bytes, sha256: s.sha256 })),
    arrays: checked.leaves.map((l) => ({ path: l.path, dtype: l.dtype.typestr, shape: l.shape, bytes: l.nbytes })),
    attrs: checked.attrs,
  };
}
