// Stores out to numpy's files: .npz (every array, STORED) and .npy (one array). Bytes go from shared
// memory to the file in chunks, as they are stored (byte order and C or F order kept).

import { NdshmError, invalid } from '../errors.js';
import type { SharedNDArray } from '../ndarray/array.js';
import { checkBoolean, checkOptions } from '../options.js';
import { contiguousBytes } from '../contiguous.js';
import { shmToArrays } from './api.js';
import { checkPath, exists, fileExists, writeFileAtomically, writeFully } from './files.js';
import { chunkBytes, memoryBytes } from './memory-bytes.js';
import { formatNpyHeader } from './npy-header.js';
import { type StoreTree, isLeaf, releaseArrays } from './read.js';
import { ZipWriter } from './zip-write.js';

export interface ShmToNpzOptions {
  /** Replace an existing file. Default false: EEXIST. */
  overwrite?: boolean;
}

export interface WrittenFile {
  readonly path: string;
  readonly arrays: number;
  /** The file's size. */
  readonly bytes: number;
}

/** What a .npy file of `a` holds: its header, then its bytes (as stored; C order for a non-contiguous view). */
function npyParts(a: SharedNDArray): { header: Uint8Array; bytes: Uint8Array; release(): void } {
  const order = a.order;
  const { bytes, release } = order === null ? { bytes: a[contiguousBytes](), release: () => undefined } : memoryBytes(a, true);
  return { header: formatNpyHeader(a.dtype, a.shape, order === 'F'), bytes, release };
}

function writeChunks(bytes: Uint8Array, write: (piece: Uint8Array) => void): void {
  for (let at = 0; at < bytes.length; at += chunkBytes) write(bytes.subarray(at, Math.min(at + chunkBytes, bytes.length)));
}

function leavesOf(tree: StoreTree, path: string[] = [], out: { path: string[]; array: SharedNDArray }[] = []): { path: string[]; array: SharedNDArray }[] {
  for (const [key, node] of Object.entries(tree)) {
    if (isLeaf(node)) out.push({ path: [...path, key], array: node.data });
    else leavesOf(node, [...path, key], out);
  }
  return out;
}

/**
 * The store `name` to a .npz file that np.load reads: one STORED member per array, "a/b.npy" for b in
 * group a. Written to a temporary file that is renamed into place at the end.
 */
export function shmToNpz(name: string, path: string, options?: ShmToNpzOptions): WrittenFile {
  const opts = checkOptions(options, ['overwrite'], 'shmToNpz');
  checkPath(path, 'path');
  const overwrite = checkBoolean(opts.overwrite, 'overwrite', false);
  if (!overwrite && exists(path)) throw fileExists(path);
  const tree = shmToArrays(name, { readOnly: true });
  try {
    const leaves = leavesOf(tree);
    const seen = new Set<string>();
    for (const { path: p } of leaves) {
      const member = `${p.join('/')}.npy`;
      if (seen.has(member)) throw invalid(`two arrays of store "${name}" would both be member "${member}" (a key holds "/")`);
      seen.add(member);
    }
    let size = 0;
    writeFileAtomically(path, overwrite, (fd) => {
      const zip = new ZipWriter(fd, path);
      for (const leaf of leaves) {
        const { header, bytes, release } = npyParts(leaf.array);
        try {
          zip.addStored(`${leaf.path.join('/')}.npy`, header.length + bytes.length, (write) => {
            write(header);
            writeChunks(bytes, write);
          });
        } finally {
          release();
        }
      }
      zip.finish();
      size = zip.size;
    });
    return { path, arrays: leaves.length, bytes: size };
  } finally {
    releaseArrays(tree);
  }
}

/** One array of the store `name` (`key`: "a/b" or ["a", "b"]) to a .npy file. */
export function shmToNpy(name: string, key: string | readonly string[], path: string, options?: ShmToNpzOptions): WrittenFile {
  const opts = checkOptions(options, ['overwrite'], 'shmToNpy');
  checkPath(path, 'path');
  const overwrite = checkBoolean(opts.overwrite, 'overwrite', false);
  const keys = typeof key === 'string' ? key.split('/') : Array.isArray(key) ? [...key] : undefined;
  if (keys === undefined || keys.some((k) => typeof k !== 'string')) throw invalid('key must be a string ("a/b") or an array of strings');
  if (!overwrite && exists(path)) throw fileExists(path);
  const tree = shmToArrays(name, { readOnly: true });
  try {
    let node: StoreTree[string] | undefined = tree;
    for (const k of keys) node = node !== undefined && !isLeaf(node) && Object.hasOwn(node, k) ? node[k] : undefined;
    if (node === undefined || !isLeaf(node)) throw new NdshmError('ENOENT', `store "${name}" has no array "${keys.join('/')}"`, { segment: name });
    const { header, bytes, release } = npyParts(node.data);
    try {
      writeFileAtomically(path, overwrite, (fd) => {
        let position = 0;
        for (const piece of [header, bytes]) {
          writeChunks(piece, (chunk) => {
            writeFully(fd, chunk, position, path);
            position += chunk.length;
          });
        }
      });
    } finally {
      release();
    }
    return { path, arrays: 1, bytes: header.length + bytes.length };
  } finally {
    releaseArrays(tree);
  }
}
