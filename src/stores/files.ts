// Plain files for the .npy/.npz import and export: opening for reading with errors that name the
// path, exact positioned reads, and writing a file in full under a temporary name before it appears.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, linkSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { NdshmError, type NdshmErrorCode, invalid } from '../errors.js';

const codes: Record<string, NdshmErrorCode> = {
  ENOENT: 'ENOENT',
  EEXIST: 'EEXIST',
  EACCES: 'EACCES',
  EPERM: 'EACCES',
  ENOSPC: 'ENOSPC',
  EISDIR: 'EINVAL',
  ENOTDIR: 'ENOENT',
};

/** An ndshm error for a failed file operation, naming the path. */
export function fileError(err: unknown, syscall: string, path: string): NdshmError {
  const e = err as NodeJS.ErrnoException;
  const code = codes[e.code ?? ''] ?? 'ESYSTEM';
  const what = code === 'ENOENT' ? `no such file "${path}"` : `${syscall} "${path}": ${e.message}`;
  return new NdshmError(code, what, { syscall, errno: typeof e.errno === 'number' ? Math.abs(e.errno) : undefined, cause: err });
}

export function checkPath(path: unknown, what: string): string {
  if (typeof path !== 'string' || path === '') throw invalid(`${what} must be a non-empty string, got ${JSON.stringify(path)}`);
  return path;
}

export interface InputFile {
  readonly fd: number;
  readonly size: number;
  readonly path: string;
  /** Device and inode, to tell whether a path still names this file. */
  readonly dev: bigint;
  readonly ino: bigint;
}

/**
 * Opens a regular file for reading; the caller closes `fd`. Opened O_NONBLOCK, so that a FIFO (or a
 * device) given as the path is an error here instead of an open that waits for a writer forever;
 * for a regular file the flag changes nothing.
 */
export function openInput(path: string): InputFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fileError(err, 'open', path);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw invalid(`"${path}" is not a regular file`);
    return { fd, size: Number(st.size), path, dev: st.dev, ino: st.ino };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Fills `target` from the file at `position`; EBADHEADER if the file ends first. */
export function readExactly(file: InputFile, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    let n: number;
    try {
      n = readSync(file.fd, target, done, target.length - done, position + done);
    } catch (err) {
      throw fileError(err, 'read', file.path);
    }
    if (n === 0) {
      throw new NdshmError('EBADHEADER', `"${file.path}" ended at byte ${position + done}, ${target.length - done} bytes short (was it truncated while being read?)`);
    }
    done += n;
  }
}

/** Writes all of `bytes` at `position`. */
export function writeFully(fd: number, bytes: Uint8Array, position: number, path: string): void {
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  } catch (err) {
    throw fileError(err, 'write', path);
  }
}

export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function fileExists(path: string): NdshmError {
  return new NdshmError('EEXIST', `"${path}" already exists (use overwrite to replace it)`);
}

/**
 * Writes `path` through `write(fd)` into a temporary file of the same directory, then gives it its
 * name in one step (rename replaces; link fails if `path` appeared meanwhile): nobody sees half a file,
 * and a failure leaves nothing behind.
 */
export function writeFileAtomically(path: string, overwrite: boolean, write: (fd: number) => void): void {
  if (!overwrite && exists(path)) throw fileExists(path);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    try {
      fd = openSync(temp, 'wx');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NdshmError('ENOENT', `cannot write "${path}": no such directory "${dirname(path)}"`, { cause: err });
      throw fileError(err, 'open', path);
    }
    write(fd);
    closeSync(fd);
    fd = undefined;
    try {
      if (overwrite) renameSync(temp, path);
      else linkSync(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw fileExists(path);
      throw fileError(err, overwrite ? 'rename' : 'link', path);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temp); // after link; or what a failure left
    } catch {
      // renamed, or never made
    }
  }
}
