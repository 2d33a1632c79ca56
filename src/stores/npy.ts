// numpy's .npy and .npz files into stores (npy-export.ts has the way back out). Every check on the
// headers comes first; then the payloads of .npy files and stored .npz members go from the file into
// the segments by sendfile (read() into the mapping where the kernel refuses; file-copy.ts), and
// deflated members through zlib, in chunks: no full intermediate copy.

import { closeSync } from 'node:fs';
import { basename } from 'node:path';

import { NdshmError, invalid } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import type { WrittenStore } from './api.js';
import { StoreBuilder, type StoreWriteOptions } from './builder.js';
import { type CopyOptions, checkSignal, copyFileInto, copyFileIntoAsync, throwIfAborted } from './file-copy.js';
import { type InputFile, checkPath, openInput, readExactly } from './files.js';
import { memoryBytes } from './memory-bytes.js';
import { type NpyHeader, npyHeaderLength, npyPrefixLength, parseNpyHeader } from './npy-header.js';
import { type ZipMember, inflateRange, methodStored, readZipDirectory, zipCrc32 } from './zip-read.js';

export { shmToNpy, shmToNpz } from './npy-export.js';
export type { ShmToNpzOptions, WrittenFile } from './npy-export.js';

export interface NpzToShmOptions extends StoreWriteOptions {
  /** Called as data lands in shared memory: payload bytes done so far, and in all. */
  progress?: (bytesDone: number, bytesTotal: number) => void;
  /**
   * Stops the load (EABORTED, nothing left behind) when it fires; checked before each chunk of 16 MiB
   * and before the store is published.
   */
  signal?: AbortSignal;
}

export interface NpyToShmOptions extends NpzToShmOptions {
  /** The array's key in the store ("a/b" nests it); default the file's base name without ".npy". */
  key?: string;
}

const writeKeys = ['persistent', 'overwrite', 'attrs', 'mode', 'progress', 'signal'];

function writeOptions(
  opts: NpzToShmOptions,
  where: string,
): { store: StoreWriteOptions; progress: NpzToShmOptions['progress']; signal: AbortSignal | undefined } {
  if (opts.progress !== undefined && typeof opts.progress !== 'function') throw invalid(`progress must be a function, got ${typeof opts.progress}`);
  const signal = checkSignal(opts.signal, where);
  const store = {
    persistent: checkBoolean(opts.persistent, 'persistent', false),
    overwrite: checkBoolean(opts.overwrite, 'overwrite', false),
    attrs: opts.attrs,
    mode: opts.mode,
  };
  return { store, progress: opts.progress, signal };
}

/** Counts payload bytes and tells the caller's progress callback. */
function reporter(progress: NpzToShmOptions['progress'], total: number): (n: number) => void {
  let done = 0;
  progress?.(0, total);
  return (n) => {
    done += n;
    progress?.(done, total);
  };
}

/** How a payload is copied: progress, the signal, and the error for a file that ends early. */
function copyOptions(file: InputFile, report: (n: number) => void, signal: AbortSignal | undefined, crc?: number): CopyOptions {
  return {
    report,
    signal,
    crc,
    truncated: (at, short) =>
      new NdshmError('EBADHEADER', `"${file.path}" ended at byte ${at}, ${short} bytes short (was it truncated while being read?)`),
  };
}

/** The .npy header at `start`, within `available` bytes of the file; and its raw bytes. */
function readNpyHeader(file: InputFile, start: number, available: number, where: string): { header: NpyHeader; bytes: Uint8Array } {
  const prefix = new Uint8Array(Math.min(npyPrefixLength, available));
  readExactly(file, prefix, start);
  const length = npyHeaderLength(prefix, where);
  if (length > available) throw new NdshmError('EBADHEADER', `${where}: the .npy header says it is ${length} bytes, but there are only ${available}`);
  const bytes = new Uint8Array(length);
  readExactly(file, bytes, start);
  return { header: parseNpyHeader(bytes, where), bytes };
}

function checkDataSize(header: NpyHeader, dataBytes: number, where: string): void {
  if (dataBytes !== header.dataBytes) {
    const shape = header.shape.length === 1 ? `(${header.shape[0]},)` : `(${header.shape.join(', ')})`;
    throw new NdshmError(
      'EBADHEADER',
      `${where}: the data is ${dataBytes} bytes, but shape ${shape} of ${header.dtype.typestr} needs ${header.dataBytes} bytes`,
    );
  }
}

const keyPath = (key: string): string[] => key.split('/');
const orderOf = (h: NpyHeader): 'C' | 'F' => (h.fortranOrder ? 'F' : 'C');

/** A .npy file into shared memory as the store `name`, holding one array. */
export function npyToShm(path: string, name: string, options?: NpyToShmOptions): WrittenStore {
  const opts = checkOptions(options, [...writeKeys, 'key'], 'npyToShm');
  checkPath(path, 'path');
  const { store, progress, signal } = writeOptions(opts, 'npyToShm');
  if (opts.key !== undefined && typeof opts.key !== 'string') throw invalid(`key must be a string, got ${typeof opts.key}`);
  const key = keyPath(opts.key ?? basename(path).replace(/\.npy$/, ''));
  const builder = new StoreBuilder(name, store); // EEXIST before any reading
  throwIfAborted(signal, `npyToShm "${path}"`);
  const file = openInput(path);
  try {
    const where = `"${path}"`;
    const { header } = readNpyHeader(file, 0, file.size, where);
    checkDataSize(header, file.size - header.headerLength, where);
    builder.add(key, header.shape, header.dtype, undefined, orderOf(header));
    throwIfAborted(signal, `npyToShm "${path}"`);
    const [target] = builder.allocate();
    try {
      const report = reporter(progress, header.dataBytes);
      const { bytes, release } = memoryBytes(target!, false);
      try {
        copyFileInto(file, header.headerLength, bytes, copyOptions(file, report, signal));
      } finally {
        release();
      }
      throwIfAborted(signal, `npyToShm "${path}"`);
    } catch (err) {
      builder.abort();
      throw err;
    }
    return { ...builder.publish(), format: 'ndshm' };
  } finally {
    closeSync(file.fd);
  }
}

interface PlannedMember {
  member: ZipMember;
  where: string;
  header: NpyHeader;
  headerBytes: Uint8Array;
}

/** The .npy header of a deflated member, inflating only as much as it takes. */
async function inflateNpyHeader(file: InputFile, m: ZipMember, where: string): Promise<{ header: NpyHeader; bytes: Uint8Array }> {
  let got = Buffer.alloc(0);
  let need = Infinity;
  await inflateRange(
    file,
    m.dataStart,
    m.compressedSize,
    where,
    (piece) => {
      got = Buffer.concat([got, piece]);
      if (need === Infinity && got.length >= npyPrefixLength) need = npyHeaderLength(got, where);
      return got.length < need;
    },
    { read: 16 << 10, piece: 64 << 10 },
  );
  const length = npyHeaderLength(got, where);
  if (got.length < length) throw new NdshmError('EBADHEADER', `${where}: the .npy header says it is ${length} bytes, but the member inflates to ${got.length}`);
  const bytes = got.subarray(0, length);
  return { header: parseNpyHeader(bytes, where), bytes };
}

/** Streams a deflated member's payload into `target`; returns the CRC-32 of all it inflated. */
async function inflatePayload(
  file: InputFile,
  plan: PlannedMember,
  target: Uint8Array,
  report: (n: number) => void,
  signal: AbortSignal | undefined,
): Promise<number> {
  const { member: m, where, header } = plan;
  let out = 0;
  let crc = 0;
  await inflateRange(file, m.dataStart, m.compressedSize, where, (piece) => {
    throwIfAborted(signal, `npzToShm ${where}`);
    if (out + piece.length > m.uncompressedSize) throw new NdshmError('EBADHEADER', `${where}: inflates to more than its ${m.uncompressedSize} bytes`);
    crc = zipCrc32(piece, crc);
    const skip = Math.min(piece.length, Math.max(0, header.headerLength - out)); // the header, read in pass 1
    if (skip < piece.length) {
      target.set(skip === 0 ? piece : piece.subarray(skip), out + skip - header.headerLength);
      report(piece.length - skip);
    }
    out += piece.length;
    return true;
  });
  if (out !== m.uncompressedSize) throw new NdshmError('EBADHEADER', `${where}: inflates to ${out} bytes, its directory entry says ${m.uncompressedSize}`);
  return crc;
}

/**
 * A .npz file (np.savez or np.savez_compressed) into shared memory as the store `name`: one array per
 * member, keyed by its name without ".npy" ("a/b.npy" is b in group a). Two passes: every member's
 * header (so the store is allocated at once, after all sizes are checked), then the payloads.
 * Asynchronous because zlib inflates in pieces only through its streams.
 */
export async function npzToShm(path: string, name: string, options?: NpzToShmOptions): Promise<WrittenStore> {
  const opts = checkOptions(options, writeKeys, 'npzToShm');
  checkPath(path, 'path');
  const { store, progress, signal } = writeOptions(opts, 'npzToShm');
  const builder = new StoreBuilder(name, store);
  throwIfAborted(signal, `npzToShm "${path}"`);
  const file = openInput(path);
  try {
    const plans: PlannedMember[] = [];
    for (const member of readZipDirectory(file)) {
      if (member.name.endsWith('/')) continue; // a directory entry
      const where = `"${path}" member "${member.name}"`;
      if (!member.name.endsWith('.npy')) throw invalid(`${where} is not a .npy file (its name does not end in ".npy")`);
      const { header, bytes } =
        member.method === methodStored ? readNpyHeader(file, member.dataStart, member.uncompressedSize, where) : await inflateNpyHeader(file, member, where);
      checkDataSize(header, member.uncompressedSize - header.headerLength, where);
      builder.add(keyPath(member.name.slice(0, -4)), header.shape, header.dtype, undefined, orderOf(header));
      plans.push({ member, where, header, headerBytes: bytes });
    }
    throwIfAborted(signal, `npzToShm "${path}"`);
    const targets = builder.allocate();
    const report = reporter(progress, plans.reduce((n, p) => n + p.header.dataBytes, 0));
    for (const [i, plan] of plans.entries()) {
      const { bytes, release } = memoryBytes(targets[i]!, false);
      let crc: number;
      try {
        crc =
          plan.member.method === methodStored
            ? (await copyFileIntoAsync(file, plan.member.dataStart + plan.header.headerLength, bytes, copyOptions(file, report, signal, zipCrc32(plan.headerBytes))))!
            : await inflatePayload(file, plan, bytes, report, signal);
      } finally {
        release();
      }
      if (crc !== plan.member.crc32) {
        throw new NdshmError('EBADHEADER', `${plan.where}: CRC-32 mismatch (the data gives ${hex(crc)}, the zip says ${hex(plan.member.crc32)}): the file is corrupt`);
      }
    }
    throwIfAborted(signal, `npzToShm "${path}"`);
    return { ...builder.publish(), format: 'ndshm' };
  } catch (err) {
    builder.abort(); // removes whatever was allocated (a no-op before allocate() and after publish())
    throw err;
  } finally {
    closeSync(file.fd);
  }
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

