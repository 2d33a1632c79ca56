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

import { type DType, dtype as toDType } from '../dtype.js';
import { NdshmError, show } from '../errors.js';
import { validateName } from '../segment/names.js';
import { checkShape } from '../shape.js';
import { newNode } from '../tree.js';
import { type AttrValue, decodeAttrs } from './attrs.js';
import { validateStoreName } from './names.js';

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

/**
 * Parses and checks a manifest read from shared memory; nothing in it is trusted before this. Every
 * field of the wrong type is EBADHEADER. `store` is the name it must carry (any valid store name when
 * undefined: a manifest found under a temporary name).
 */
export function decodeManifest(bytes: Uint8Array, store: string | undefined): Manifest {
  const where = store ?? '(unpublished)';
  if (bytes.length < manifestHeaderLength) throw bad(where, `${bytes.length} bytes, shorter than its header`);
  if (Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== manifestMagic) throw bad(where, 'no manifest magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== manifestVersion) throw bad(where, `format version ${version} (this ndshm reads ${manifestVersion})`);
  const length = view.getUint32(12, true);
  if (manifestHeaderLength + length > bytes.length) throw bad(where, `JSON of ${length} bytes runs past the end`);
  const json = bytes.subarray(manifestHeaderLength, manifestHeaderLength + length);
  if (crc32(json) !== view.getUint32(16, true)) throw bad(where, 'checksum mismatch');
  let m: Manifest;
  try {
    m = JSON.parse(Buffer.from(json).toString('utf8')) as Manifest;
  } catch (err) {
    throw bad(where, `JSON does not parse (${(err as Error).message})`);
  }
  if (!isObject(m) || m.ndshm_store !== 1) throw bad(where, 'not an ndshm store manifest');
  if (store !== undefined ? m.name !== store : typeof m.name !== 'string' || !isStoreName(m.name)) throw bad(where, `it names store ${show(m.name)}`);
  if (typeof m.created !== 'number' || !Number.isFinite(m.created)) throw bad(where, 'created is not a time');
  if (typeof m.persistent !== 'boolean') throw bad(where, 'persistent is not a boolean');
  if (!isObject(m.owner) || !isInt(m.owner.pid) || !isInt(m.owner.start)) throw bad(where, 'owner is not { pid, start }');
  if (m.attrs !== undefined && !isObject(m.attrs)) throw bad(where, 'attrs is not an object');
  if (!Array.isArray(m.segments)) throw bad(where, 'segments is not a list');
  const names = new Set<string>();
  m.segments.forEach((s, i) => {
    if (!isObject(s)) throw bad(where, `segments[${i}] is not an object`);
    try {
      validateName(s.name, 'segment name');
    } catch {
      throw bad(where, `segments[${i}] has a bad name`);
    }
    if (names.has(s.name)) throw bad(where, `segments[${i}] is listed twice`);
    names.add(s.name);
    if (typeof s.id !== 'string' || !/^[0-9a-f]{1,16}$/.test(s.id)) throw bad(where, `segments[${i}] has a bad id`);
  });
  if (!isObject(m.tree)) throw bad(where, 'tree is not an object');
  const checked = checkTree(m.tree, m.segments.length, where);
  try {
    decodeAttrs(m.attrs ?? {}, `store "${where}"`);
  } catch (err) {
    throw bad(where, (err as Error).message);
  }
  checkedTrees.set(m, checked);
  return m;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isStoreName(name: string): boolean {
  try {
    validateStoreName(name);
    return true;
  } catch {
    return false;
  }
}

/** A leaf of a checked manifest, with what checking it found: its dtype and its decoded attributes. */
export interface CheckedLeaf {
  /** Index of its group in CheckedTree.groups. */
  readonly group: number;
  readonly key: string;
  readonly entry: LeafEntry;
  readonly dtype: DType;
  readonly attrs: Record<string, AttrValue>;
}

/** A group of a checked manifest: its parent's index (the root is group 0), its key, its own index. */
export interface CheckedGroup {
  readonly group: number;
  readonly key: string;
  readonly index: number;
}

/** The groups and leaves of a checked manifest, in tree order (keys in the order written). */
export interface CheckedTree {
  /** Groups, the root (0) not included, counted. */
  readonly groups: number;
  readonly entries: readonly (CheckedGroup | CheckedLeaf)[];
  readonly leaves: readonly CheckedLeaf[];
}

// What decodeManifest checked, in tree order, for the readers (one walk instead of three).
const checkedTrees = new WeakMap<Manifest, CheckedTree>();

/** The groups and leaves of a manifest decodeManifest returned, depth first, in key order as written. */
export function checkedTreeOf(m: Manifest): CheckedTree {
  const tree = checkedTrees.get(m);
  if (tree === undefined) throw new NdshmError('EINVAL', 'checkedTreeOf: not a manifest decodeManifest returned');
  return tree;
}

const emptyAttrs: Record<string, AttrValue> = Object.freeze(newNode<AttrValue>());

// Walks the tree once: every key and leaf checked (a stack of keys; a path string only in messages),
// every distinct dtype resolved once, attributes decoded once (empty ones share one frozen object).
function checkTree(tree: Record<string, unknown>, segments: number, store: string): CheckedTree {
  const out: CheckedLeaf[] = [];
  const entries: (CheckedGroup | CheckedLeaf)[] = [];
  let groups = 0;
  const dtypes = new Map<unknown, DType | undefined>();
  const path: string[] = [];
  const walk = (node: Record<string, unknown>, group: number): void => {
    for (const key in node) {
      if (!Object.hasOwn(node, key)) continue;
      const child = node[key];
      if (key === '' || key.length > 255 || key.charCodeAt(0) === 64) throw bad(store, `bad key ${show(key)} at ${path.join('/') || '/'}`);
      path.push(key);
      if (!isObject(child)) throw bad(store, `${path.join('/')} is not an object`);
      if (!Object.hasOwn(child, '@leaf')) {
        if (path.length > 64) throw bad(store, 'tree is nested too deeply');
        const index = ++groups;
        entries.push({ group, key, index });
        walk(child, index);
        path.pop();
        continue;
      }
      const leaf = child['@leaf'] as LeafEntry;
      let keys = 0;
      for (const k in child) if (Object.hasOwn(child, k) && ++keys > 1) throw bad(store, `${path.join('/')}: a leaf with other keys beside "@leaf"`);
      if (!isObject(leaf)) throw bad(store, `${path.join('/')}: "@leaf" is not an object`);
      if (!isInt(leaf.segment) || leaf.segment >= segments) throw bad(store, `${path.join('/')}: bad segment index`);
      let dt = dtypes.get(leaf.dtype);
      if (!dtypes.has(leaf.dtype)) {
        try {
          dt = toDType(leaf.dtype);
        } catch {
          dt = undefined;
        }
        dtypes.set(leaf.dtype, dt);
      }
      if (dt === undefined) throw bad(store, `${path.join('/')}: unsupported dtype ${show(leaf.dtype)}`);
      try {
        checkShape(leaf.shape, 'shape', dt.itemsize);
      } catch {
        throw bad(store, `${path.join('/')}: bad shape`);
      }
      const strides = leaf.strides;
      if (!Array.isArray(strides) || strides.length !== leaf.shape.length) throw bad(store, `${path.join('/')}: bad strides`);
      for (let k = 0; k < strides.length; k++) if (!Number.isSafeInteger(strides[k])) throw bad(store, `${path.join('/')}: bad strides`);
      if (!isInt(leaf.offset)) throw bad(store, `${path.join('/')}: bad offset`);
      let attrs = emptyAttrs;
      if (leaf.attrs !== undefined) {
        if (!isObject(leaf.attrs)) throw bad(store, `${path.join('/')}: attrs is not an object`);
        let any = false;
        for (const k in leaf.attrs) if (Object.hasOwn(leaf.attrs, k)) { any = true; break; }
        if (any) {
          try {
            attrs = decodeAttrs(leaf.attrs, `${store}/${path.join('/')}`) as Record<string, AttrValue>;
          } catch (err) {
            throw bad(store, (err as Error).message);
          }
        }
      }
      const checked = { group, key, entry: leaf, dtype: dt, attrs };
      out.push(checked);
      entries.push(checked);
      path.pop();
    }
  };
  walk(tree, 0);
  return { groups, entries, leaves: out };
}

/** Calls `visit` for every leaf, depth first, in key order as written (of a tree that was checked). */
export function forEachLeaf(tree: { [key: string]: TreeNode }, visit: (path: string[], leaf: LeafEntry) => void, path: string[] = []): void {
  for (const [key, child] of Object.entries(tree)) {
    if (Object.hasOwn(child, '@leaf')) visit([...path, key], (child as { '@leaf': LeafEntry })['@leaf']);
    else forEachLeaf(child as { [key: string]: TreeNode }, visit, [...path, key]);
  }
}

export type { AttrValue };
