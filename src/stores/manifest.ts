// A store's manifest: one shared-memory object, "store.NAME", holding a small binary header and a
// JSON document that lists the store's segments and describes every array as a view of one of them.
//
//   off size
//     0    8  magic "NDSHMSTO"
//     8    4  format version (1)
//    12    4  JSON length in bytes
//    16    4  CRC-32 of the JSON
//    20   12  reserved, 0
//    32    …  JSON (UTF-8)
//
// The manifest is written in full under a temporary name and then published under its real name in
// one step (link or rename), so a reader never sees a partial one. docs/format.md has the schema.

import { crc32 } from 'node:zlib';

import { dtype as toDType } from '../dtype.js';
import { NdshmError } from '../errors.js';
import type { SharedNDArrayHandle } from '../ndarray/handle.js';
import { validateName } from '../segment/names.js';
import { type AttrValue, decodeAttrs } from './attrs.js';

export const manifestMagic = 'NDSHMSTO';
export const manifestVersion = 1;
export const manifestHeaderLength = 32;

export interface LeafEntry {
  /** Index into Manifest.segments. */
  segment: number;
  dtype: string;
  shape: number[];
  /** Byte strides. */
  strides: number[];
  /** Byte offset of element [0, ..., 0] in the segment's data. */
  offset: number;
  attrs: Record<string, unknown>;
}

export type TreeNode = { '@leaf': LeafEntry } | { [key: string]: TreeNode };

export interface Manifest {
  ndshm_store: 1;
  name: string;
  created: number;
  persistent: boolean;
  owner: { pid: number; start: number };
  attrs: Record<string, unknown>;
  segments: { name: string; id: string }[];
  tree: { [key: string]: TreeNode };
}

export function encodeManifest(m: Manifest): Uint8Array {
  const json = Buffer.from(JSON.stringify(m), 'utf8');
  const out = new Uint8Array(manifestHeaderLength + json.length);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(manifestMagic, 'latin1'), 0);
  view.setUint32(8, manifestVersion, true);
  view.setUint32(12, json.length, true);
  view.setUint32(16, crc32(json), true);
  out.set(json, manifestHeaderLength);
  return out;
}

function bad(store: string, why: string): NdshmError {
  return new NdshmError('EBADHEADER', `the manifest of store "${store}" is corrupt: ${why}`, { segment: store });
}

const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/** Parses and checks a manifest read from shared memory; nothing in it is trusted before this. */
export function decodeManifest(bytes: Uint8Array, store: string): Manifest {
  if (bytes.length < manifestHeaderLength) throw bad(store, `${bytes.length} bytes, shorter than its header`);
  if (Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== manifestMagic) throw bad(store, 'no manifest magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== manifestVersion) throw bad(store, `format version ${version} (this ndshm reads ${manifestVersion})`);
  const length = view.getUint32(12, true);
  if (manifestHeaderLength + length > bytes.length) throw bad(store, `JSON of ${length} bytes runs past the end`);
  const json = bytes.subarray(manifestHeaderLength, manifestHeaderLength + length);
  if (crc32(json) !== view.getUint32(16, true)) throw bad(store, 'checksum mismatch');
  let m: Manifest;
  try {
    m = JSON.parse(Buffer.from(json).toString('utf8')) as Manifest;
  } catch (err) {
    throw bad(store, `JSON does not parse (${(err as Error).message})`);
  }
  if (typeof m !== 'object' || m === null || m.ndshm_store !== 1) throw bad(store, 'not an ndshm store manifest');
  if (m.name !== store) throw bad(store, `it names store ${JSON.stringify(m.name)}`);
  if (!Array.isArray(m.segments)) throw bad(store, 'segments is not a list');
  m.segments.forEach((s, i) => {
    try {
      validateName(s?.name, 'segment name');
    } catch {
      throw bad(store, `segments[${i}] has a bad name`);
    }
    if (typeof s.id !== 'string' || !/^[0-9a-f]{1,16}$/.test(s.id)) throw bad(store, `segments[${i}] has a bad id`);
  });
  if (typeof m.tree !== 'object' || m.tree === null || Array.isArray(m.tree)) throw bad(store, 'tree is not an object');
  checkTree(m.tree, m.segments.length, store, []);
  decodeAttrs(m.attrs ?? {}, `store "${store}"`);
  return m;
}

function checkTree(node: Record<string, unknown>, segments: number, store: string, path: string[]): void {
  for (const [key, child] of Object.entries(node)) {
    const at = [...path, key];
    if (key === '' || key.startsWith('@')) throw bad(store, `bad key ${JSON.stringify(key)} at ${path.join('/') || '/'}`);
    if (typeof child !== 'object' || child === null || Array.isArray(child)) throw bad(store, `${at.join('/')} is not an object`);
    const leaf = (child as { '@leaf'?: LeafEntry })['@leaf'];
    if (leaf === undefined) {
      if (at.length > 64) throw bad(store, 'tree is nested too deeply');
      checkTree(child as Record<string, unknown>, segments, store, at);
      continue;
    }
    const where = at.join('/');
    if (!isInt(leaf.segment) || leaf.segment >= segments) throw bad(store, `${where}: bad segment index`);
    try {
      toDType(leaf.dtype);
    } catch {
      throw bad(store, `${where}: unsupported dtype ${JSON.stringify(leaf.dtype)}`);
    }
    const dims = leaf.shape;
    if (!Array.isArray(dims) || dims.length > 32 || !dims.every((d) => isInt(d))) throw bad(store, `${where}: bad shape`);
    if (!Array.isArray(leaf.strides) || leaf.strides.length !== dims.length || !leaf.strides.every((s) => Number.isSafeInteger(s))) {
      throw bad(store, `${where}: bad strides`);
    }
    if (!isInt(leaf.offset)) throw bad(store, `${where}: bad offset`);
    decodeAttrs(leaf.attrs ?? {}, `${store}/${where}`);
  }
}

/** The handle that opens a leaf (SharedNDArray.open checks it against the segment's header). */
export function leafHandle(m: Manifest, leaf: LeafEntry): SharedNDArrayHandle {
  const seg = m.segments[leaf.segment]!;
  return { ndshm: 1, name: seg.name, id: seg.id, dtype: leaf.dtype, shape: leaf.shape, strides: leaf.strides, offset: leaf.offset, scope: null };
}

/** Calls `visit` for every leaf, depth first, in key order as written. */
export function forEachLeaf(tree: { [key: string]: TreeNode }, visit: (path: string[], leaf: LeafEntry) => void, path: string[] = []): void {
  for (const [key, child] of Object.entries(tree)) {
    const leaf = (child as { '@leaf'?: LeafEntry })['@leaf'];
    if (leaf !== undefined) visit([...path, key], leaf);
    else forEachLeaf(child as { [key: string]: TreeNode }, visit, [...path, key]);
  }
}

export type { AttrValue };
