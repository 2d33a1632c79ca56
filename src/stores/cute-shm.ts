// cute-shm's store format, so that Python's cute_shm.shm_to_arrays reads what ndshm writes and ndshm
// reads what cute-shm wrote (research/python-anchors.md has the format):
//   - one segment per array, named cute-shm.PROJECT.<10 letters/digits>, C-order bytes, no header;
//   - a TOML manifest ROOT/cute-shm.PROJECT.toml (ROOT is cute-shm's /tmp/cute-shm) whose tables mirror
//     the nested dict; a table is an array iff it has shm_name; each array table has shm_name,
//     shm_private_name ("/" + shm_name), shape, dtype (numpy's str(dtype)) and attrs.
// Unlike cute-shm, ndshm writes the TOML atomically (a temporary file, then link or rename) and
// refuses a folder that another user owns or that is a symbolic link.

import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';

import { type DType, dtype as toDType } from '../dtype.js';
import { invalid, isNdshmError, NdshmError, show } from '../errors.js';
import { fsError, readRegular, removeTemporary } from '../files.js';
import { type SharedNDArray, makeArray } from '../ndarray/array.js';
import { openRawBlock } from '../ndarray/block.js';
import { contiguousStrides } from '../ndarray/layout.js';
import { publishAtomically } from '../publish.js';
import * as lifetime from '../segment/lifetime.js';
import { maxForeignNameLength, validateName } from '../segment/names.js';
import { type Segment, createForeignSegment } from '../segment/segment.js';
import { checkShape, elementCount } from '../shape.js';
import { childNode, newNode, setOwn } from '../tree.js';
import type { AttrValue } from './attrs.js';
import type { StoreLeaf, StoreTree } from './read.js';

export const defaultCuteShmRoot = '/tmp/cute-shm';
const tomlPrefix = 'cute-shm.';
const maxTomlBytes = 64 << 20;
const myUid = process.getuid?.();

type Toml = { parse(text: string): unknown; stringify(value: unknown): string };
const toml = (): Toml => createRequire(import.meta.url)('smol-toml') as Toml;

export const tomlPath = (root: string, project: string): string => `${root}/${tomlPrefix}${project}.toml`;

/** numpy's str(dtype): the name for this machine's byte order, the typestr for the other. */
export const numpyDTypeName = (dt: DType): string => (dt.native ? dt.name : dt.typestr);

/**
 * cute-shm's folder, made private if missing. Refused (EACCES) unless it is a plain directory (not
 * a link) that this user owns and that neither group nor others may write: whoever can write there
 * can put a manifest that names any file, or swap one under a reader.
 */
function checkedRoot(root: string, create: boolean): boolean {
  if (typeof root !== 'string' || root === '') throw invalid(`cuteShmRoot must be a non-empty string, got ${show(root)}`);
  let st;
  try {
    st = lstatSync(root);
  } catch {
    if (!create) return false;
    try {
      mkdirSync(root, { recursive: true, mode: 0o700 });
      st = lstatSync(root);
    } catch (err) {
      throw fsError(err, 'mkdir', root);
    }
  }
  if (st.isSymbolicLink() || !st.isDirectory()) throw new NdshmError('EACCES', `${root} is not a plain directory (a symbolic link?): refusing to use it`);
  if (myUid !== undefined && st.uid !== myUid) {
    throw new NdshmError('EACCES', `${root} belongs to user ${st.uid}: refusing to read or write cute-shm manifests there`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw new NdshmError('EACCES', `${root} is writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}): refusing to trust manifests there (chmod go-w ${root})`);
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
  const made: Segment[] = [];
  const table = newNode();
  let temp: string | undefined;
  try {
    for (const leaf of leaves) {
      const size = elementCount(leaf.shape);
      if (size === 0) throw invalid(`${leaf.path.join('/')}: cute-shm cannot hold zero-size arrays (its reader rejects them)`);
      const name = `${tomlPrefix}${project}.${randomSuffix()}`;
      const seg = createForeignSegment(name, size * leaf.dtype.itemsize, { mode: options.mode, persistent: false });
      made.push(seg);
      const block = openRawBlock(name, leaf.dtype, size, { readOnly: false }); // a second mapping, for the copy
      const target = makeArray(block, { shape: leaf.shape, strides: contiguousStrides(leaf.shape), offset: 0 }, leaf.dtype);
      try {
        leaf.fill(target);
      } finally {
        target.release(); // not owned: closes the mapping only
      }
      let node = table;
      for (const key of leaf.path.slice(0, -1)) node = childNode(node, key, () => newNode()) as Record<string, unknown>;
      setOwn(node, leaf.path.at(-1)!, { shm_name: name, shm_private_name: `/${name}`, shape: [...leaf.shape], dtype: numpyDTypeName(leaf.dtype), attrs: tomlAttrs(leaf.attrs) });
    }
    const text = toml().stringify(table);
    temp = `${options.root}/.${tomlPrefix}${project}.${randomSuffix()}.tmp`;
    let fd: number;
    try {
      fd = openSync(temp, 'wx', 0o600);
    } catch (err) {
      throw fsError(err, 'open', temp);
    }
    try {
      writeSync(fd, text);
    } catch (err) {
      throw fsError(err, 'write', temp);
    } finally {
      closeSync(fd);
    }
    let exchanged: boolean;
    try {
      ({ exchanged } = publishAtomically(temp, path, options.overwrite ? 'replace' : 'create'));
    } catch (err) {
      if (isNdshmError(err, 'EEXIST')) throw new NdshmError('EEXIST', `a cute-shm store named "${project}" already exists (${path})`);
      throw err;
    }
    // What the store was before (under the temporary name after the exchange): its segments go.
    if (exchanged) removeSegments(readCuteShmSegments(temp), new Set(made.map((m) => m.name)));
  } catch (err) {
    for (const seg of made) {
      seg.close();
      lifetime.removeOwned(seg.name, { ino: seg.inode });
    }
    throw err;
  } finally {
    if (temp !== undefined) removeTemporary(temp);
  }
  for (const seg of made) {
    seg.close();
    if (options.persistent) lifetime.disown(seg.name);
  }
  return path;
}

/** Removes this user's segments among `names` (cute-shm's have no header to check more), but `keep`. */
function removeSegments(names: readonly string[], keep: ReadonlySet<string> = new Set()): void {
  for (const name of names) if (!keep.has(name)) lifetime.removeExpected(name, { uid: myUid });
}

/**
 * The segment names a cute-shm TOML lists (for replacing or removing the store); [] when the file is
 * missing. Every name passes the segment-name rule (EBADHEADER otherwise): no path leaves /dev/shm.
 */
export function readCuteShmSegments(path: string): string[] {
  const parsed = parseToml(path);
  if (parsed === undefined) return [];
  const out: string[] = [];
  const walk = (node: unknown, at: string[]): void => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
    const t = node as Record<string, unknown>;
    if (!Object.hasOwn(t, 'shm_name')) {
      for (const [k, v] of Object.entries(t)) walk(v, [...at, k]);
      return;
    }
    out.push(segmentName(t['shm_name'], `${path}: ${at.join('.')}`));
  };
  walk(parsed, []);
  return out;
}

function segmentName(value: unknown, where: string): string {
  try {
    return validateName(value, 'shm_name', maxForeignNameLength);
  } catch {
    throw new NdshmError('EBADHEADER', `${where}: shm_name ${show(value)} is not a segment name (1-255 characters from [A-Za-z0-9._-], no "/")`);
  }
}

/** The parsed TOML, or undefined if there is no such file; read without blocking, own files only. */
function parseToml(path: string): unknown {
  const bytes = readRegular(path, { maxBytes: maxTomlBytes, ...(myUid === undefined ? {} : { uid: myUid }) });
  if (bytes === undefined) return undefined;
  try {
    return toml().parse(bytes.toString('utf8'));
  } catch (err) {
    throw new NdshmError('EBADHEADER', `${path} is not valid TOML: ${(err as Error).message}`);
  }
}

/**
 * Removes a cute-shm store: its TOML first (taken out of sight in one step, so that what is removed is
 * exactly what was listed, even if a writer replaces the store meanwhile), then its segments. False
 * if there is none; EBADHEADER (and nothing removed) for a TOML that names something that is not a
 * segment.
 */
export function removeCuteShm(project: string, root: string): boolean {
  if (!checkedRoot(root, false)) return false;
  const path = tomlPath(root, project);
  const temp = `${root}/.${tomlPrefix}${project}.${randomSuffix()}.rm`;
  try {
    publishAtomically(path, temp, 'create');
  } catch (err) {
    if (isNdshmError(err, 'ENOENT')) return false;
    throw err;
  }
  let segments: string[];
  try {
    segments = readCuteShmSegments(temp);
  } catch (err) {
    try {
      publishAtomically(temp, path, 'create'); // put it back as it was
    } catch {
      removeTemporary(temp); // a new store took the name meanwhile
    }
    throw err;
  }
  removeTemporary(temp);
  removeSegments(segments);
  return true;
}

/** Reads a cute-shm store; undefined if its TOML does not exist. Trees are null-prototype objects. */
export function readCuteShm(project: string, options: { root: string; readOnly: boolean; allowOtherUsers?: boolean }): StoreTree | undefined {
  if (!checkedRoot(options.root, false)) return undefined;
  const path = tomlPath(options.root, project);
  const parsed = parseToml(path);
  if (parsed === undefined) return undefined;
  const root = newNode() as StoreTree;
  const opened: SharedNDArray[] = [];
  const open = { readOnly: options.readOnly, allowOtherUsers: options.allowOtherUsers ?? false };
  const walk = (node: Record<string, unknown>, out: StoreTree, at: string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      const here = [...at, key];
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new NdshmError('EBADHEADER', `${path}: ${here.join('.')} is neither an array table (with shm_name) nor a group`, { segment: project });
      }
      const t = value as Record<string, unknown>;
      if (!Object.hasOwn(t, 'shm_name')) {
        walk(t, childNode(out, key, () => newNode() as StoreTree) as StoreTree, here);
        continue;
      }
      setOwn<StoreTree | StoreLeaf>(out, key, openLeaf(t, here, path, open, opened));
    }
  };
  try {
    if (typeof parsed !== 'object' || parsed === null) throw new NdshmError('EBADHEADER', `${path}: not a table`);
    walk(parsed as Record<string, unknown>, root, []);
  } catch (err) {
    for (const a of opened) a.release();
    throw err;
  }
  Object.defineProperty(root, Symbol.dispose, { value: () => opened.forEach((a) => a.release()), enumerable: false });
  return root;
}

function openLeaf(t: Record<string, unknown>, path: string[], toml: string, open: { readOnly: boolean; allowOtherUsers: boolean }, opened: SharedNDArray[]): StoreLeaf {
  const where = `${toml}: ${path.join('.')}`;
  const name = segmentName(t['shm_name'], where);
  let dt: DType;
  try {
    dt = toDType(String(t['dtype']));
  } catch {
    throw new NdshmError('EBADHEADER', `${where}: dtype ${show(t['dtype'])} is not one ndshm reads`);
  }
  let shape: number[];
  try {
    shape = checkShape(t['shape'], 'shape', dt.itemsize);
  } catch {
    throw new NdshmError('EBADHEADER', `${where}: bad shape ${show(t['shape'])}`);
  }
  const rawAttrs = t['attrs'];
  if (rawAttrs !== undefined && (typeof rawAttrs !== 'object' || rawAttrs === null || Array.isArray(rawAttrs))) {
    throw new NdshmError('EBADHEADER', `${where}: attrs is not a table`);
  }
  const block = openRawBlock(name, dt, elementCount(shape), open);
  const data = makeArray(block, { shape, strides: contiguousStrides(shape), offset: 0 }, dt);
  opened.push(data);
  const attrs = Object.assign(newNode<AttrValue>(), rawAttrs ?? {}) as Record<string, AttrValue>;
  return { data, meta: { shape: Object.freeze([...shape]), dtype: numpyDTypeName(dt), attrs, segment: name } };
}

export interface CuteShmEntry {
  readonly project: string;
  readonly path: string;
  /** The segments its TOML lists (empty when it could not be read). */
  readonly names: string[];
  /** Why the TOML could not be read, if it could not. */
  readonly error: string | undefined;
}

/** Projects with a TOML in cute-shm's folder (none if the folder is missing or not trusted). */
export function listCuteShm(root: string): CuteShmEntry[] {
  try {
    if (!checkedRoot(root, false)) return [];
  } catch {
    return [];
  }
  let files: string[];
  try {
    files = readdirSync(root);
  } catch {
    return [];
  }
  return files
    .filter((f) => f.startsWith(tomlPrefix) && f.endsWith('.toml'))
    .map((f) => {
      const project = f.slice(tomlPrefix.length, -'.toml'.length);
      const path = `${root}/${f}`;
      try {
        return { project, path, names: readCuteShmSegments(path), error: undefined };
      } catch (err) {
        return { project, path, names: [], error: (err as Error).message };
      }
    });
}
