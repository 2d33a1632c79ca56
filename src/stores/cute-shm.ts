// cute-shm's store format, so that Python's cute_shm.shm_to_arrays reads what ndshm writes and ndshm
// reads what cute-shm wrote (research/python-anchors.md has the format):
//   - one segment per array, named cute-shm.PROJECT.<10 letters/digits>, C-order bytes, no header;
//   - a TOML manifest ROOT/cute-shm.PROJECT.toml (ROOT is cute-shm's /tmp/cute-shm) whose tables mirror
//     the nested dict; a table is an array iff it has shm_name; each array table has shm_name,
//     shm_private_name ("/" + shm_name), shape, dtype (numpy's str(dtype)) and attrs.
// Unlike cute-shm, ndshm writes the TOML atomically (a temporary file, then link or rename) and
// refuses a folder that another user owns or that is a symbolic link.

import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';

import { type DType, dtype as toDType } from '../dtype.js';
import { NdshmError, invalid } from '../errors.js';
import { SharedNDArray } from '../ndarray/array.js';
import { openRawBlock } from '../ndarray/block.js';
import { contiguousStrides } from '../ndarray/layout.js';
import { Segment, disown } from '../segment/segment.js';
import type { AttrValue } from './attrs.js';
import type { StoreLeaf, StoreTree } from './read.js';

export const defaultCuteShmRoot = '/tmp/cute-shm';
const tomlPrefix = 'cute-shm.';

type Toml = { parse(text: string): unknown; stringify(value: unknown): string };
const toml = (): Toml => createRequire(import.meta.url)('smol-toml') as Toml;

export const tomlPath = (root: string, project: string): string => `${root}/${tomlPrefix}${project}.toml`;

/** numpy's str(dtype): the name for this machine's byte order, the typestr for the other. */
export const numpyDTypeName = (dt: DType): string => (dt.native ? dt.name : dt.typestr);

/** cute-shm's folder, made private if missing; refused if it is a link or another user's. */
function checkedRoot(root: string, create: boolean): boolean {
  let st;
  try {
    st = lstatSync(root);
  } catch {
    if (!create) return false;
    mkdirSync(root, { recursive: true, mode: 0o700 });
    st = lstatSync(root);
  }
  if (st.isSymbolicLink() || !st.isDirectory()) throw new NdshmError('EACCES', `${root} is not a plain directory (a symbolic link?): refusing to use it`);
  if (st.uid !== process.getuid?.()) {
    throw new NdshmError('EACCES', `${root} belongs to user ${st.uid}: refusing to read or write cute-shm manifests there`);
  }
  return true;
}

const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomSuffix = (): string => Array.from(randomBytes(10), (b) => letters[b % letters.length]).join('');

function tomlAttrs(attrs: Record<string, AttrValue> | undefined): Record<string, unknown> {
  const convert = (v: AttrValue): unknown => {
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => convert(x as AttrValue));
    if (Array.isArray(v)) return v.map(convert);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, convert(x)]));
    return v;
  };
  // TOML has no null: such attributes are left out.
  return Object.fromEntries(Object.entries(attrs ?? {}).filter(([, v]) => v !== null).map(([k, v]) => [k, convert(v)]));
}

export interface CuteShmLeaf {
  path: string[];
  shape: number[];
  dtype: DType;
  attrs?: Record<string, AttrValue>;
  /** Writes the array's elements into `target` (C order, this shape and dtype). */
  fill(target: SharedNDArray): void;
}

/** Writes leaves as a cute-shm store; returns the TOML path. Leaves are copied in C order. */
export function writeCuteShm(project: string, leaves: CuteShmLeaf[], options: { root: string; overwrite: boolean; persistent: boolean; mode?: number }): string {
  checkedRoot(options.root, true);
  const path = tomlPath(options.root, project);
  const replaced = options.overwrite ? readCuteShmSegments(path) : [];
  const made: Segment[] = [];
  const table: Record<string, unknown> = {};
  try {
    for (const leaf of leaves) {
      const size = leaf.shape.reduce((a, b) => a * b, 1);
      if (size === 0) throw invalid(`${leaf.path.join('/')}: cute-shm cannot hold zero-size arrays (its reader rejects them)`);
      const name = `${tomlPrefix}${project}.${randomSuffix()}`;
      const seg = Segment.createForeign(name, size * leaf.dtype.itemsize, { mode: options.mode, persistent: false });
      made.push(seg);
      const block = openRawBlock(name, leaf.dtype, size, false); // a second mapping, for the copy
      const target = new SharedNDArray(block, { shape: leaf.shape, strides: contiguousStrides(leaf.shape), offset: 0 }, leaf.dtype);
      try {
        leaf.fill(target);
      } finally {
        target.release(); // not owned: closes the mapping only
      }
      let node = table;
      for (const key of leaf.path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
      node[leaf.path.at(-1)!] = { shm_name: name, shm_private_name: `/${name}`, shape: [...leaf.shape], dtype: numpyDTypeName(leaf.dtype), attrs: tomlAttrs(leaf.attrs) };
    }
    const text = toml().stringify(table);
    const temp = `${options.root}/.${tomlPrefix}${project}.${randomSuffix()}.tmp`;
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    try {
      if (options.overwrite) renameSync(temp, path);
      else linkSync(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NdshmError('EEXIST', `a cute-shm store named "${project}" already exists (${path})`);
      throw err;
    } finally {
      try {
        unlinkSync(temp);
      } catch {
        // renamed
      }
    }
  } catch (err) {
    for (const seg of made) {
      seg.close();
      try {
        seg.unlink();
      } catch {
        // gone
      }
    }
    throw err;
  }
  for (const seg of made) {
    seg.close();
    if (options.persistent) disown(seg.name);
  }
  for (const name of replaced) {
    try {
      Segment.unlink(name);
    } catch {
      // gone already
    }
  }
  return path;
}

/** The segment names a cute-shm TOML lists (for replacing or removing the store). */
export function readCuteShmSegments(path: string): string[] {
  let parsed: unknown;
  try {
    parsed = toml().parse(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const t = node as Record<string, unknown>;
    if (typeof t['shm_name'] === 'string') out.push(t['shm_name']);
    else for (const v of Object.values(t)) walk(v);
  };
  walk(parsed);
  return out;
}

/** Reads a cute-shm store; undefined if its TOML does not exist. */
export function readCuteShm(project: string, options: { root: string; readOnly: boolean }): StoreTree | undefined {
  if (!checkedRoot(options.root, false)) return undefined;
  const path = tomlPath(options.root, project);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = toml().parse(text);
  } catch (err) {
    throw new NdshmError('EBADHEADER', `${path} is not valid TOML: ${(err as Error).message}`, { segment: project });
  }
  const root: StoreTree = {};
  const opened: SharedNDArray[] = [];
  const walk = (node: Record<string, unknown>, out: StoreTree, at: string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
      const t = value as Record<string, unknown>;
      if (typeof t['shm_name'] !== 'string') {
        walk(t, (out[key] = {}), [...at, key]);
        continue;
      }
      out[key] = openLeaf(t, [...at, key], path, options.readOnly, opened);
    }
  };
  try {
    walk(parsed as Record<string, unknown>, root, []);
  } catch (err) {
    for (const a of opened) a.release();
    throw err;
  }
  Object.defineProperty(root, Symbol.dispose, { value: () => opened.forEach((a) => a.release()), enumerable: false });
  return root;
}

function openLeaf(t: Record<string, unknown>, path: string[], toml: string, readOnly: boolean, opened: SharedNDArray[]): StoreLeaf {
  const where = `${toml}: ${path.join('.')}`;
  const shape = t['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new NdshmError('EBADHEADER', `${where}: bad shape`);
  let dt: DType;
  try {
    dt = toDType(String(t['dtype']));
  } catch {
    throw new NdshmError('EINVAL', `${where}: dtype ${JSON.stringify(t['dtype'])} is not supported by ndshm`);
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const block = openRawBlock(t['shm_name'] as string, dt, count, readOnly);
  const data = new SharedNDArray(block, { shape: shape as number[], strides: contiguousStrides(shape as number[]), offset: 0 }, dt);
  opened.push(data);
  const attrs = typeof t['attrs'] === 'object' && t['attrs'] !== null ? (t['attrs'] as Record<string, AttrValue>) : {};
  return { data, meta: { shape: Object.freeze([...(shape as number[])]), dtype: numpyDTypeName(dt), attrs, segment: block.name! } };
}

/** Projects with a TOML in cute-shm's folder. */
export function listCuteShm(root: string): { project: string; path: string }[] {
  try {
    if (!checkedRoot(root, false)) return [];
  } catch {
    return [];
  }
  return readdirSync(root)
    .filter((f) => f.startsWith(tomlPrefix) && f.endsWith('.toml'))
    .map((f) => ({ project: f.slice(tomlPrefix.length, -'.toml'.length), path: `${root}/${f}` }));
}
