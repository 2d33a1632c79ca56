// Plain files for the .npy/.npz import and export: opening for reading without blocking (a FIFO is
// EFTYPE, not a hang), exact positioned reads, and writing a file in full under a temporary name
// before it appears (publish.ts). Errors name the path.

import { randomBytes } from 'node:crypto';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { invalid, isNdshmError, NdshmError, show } from '../errors.js';
import { type RegularFile, fsError, openRegular, readExactly, removeTemporary } from '../files.js';
import { publishAtomically } from '../publish.js';

export { readExactly };

export function checkPath(path: unknown, what: string): string {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) throw invalid(`${what} must be a non-empty string, got ${show(path)}`);
  return path;
}

export type InputFile = RegularFile;

/** Opens a regular file for reading (a symbolic link to one is fine: the caller named it); the caller closes `fd`. */
export function openInput(path: string): InputFile {
  return openRegular(path, { noFollow: false });
}

/** Writes all of `bytes` at `position`. */
export function writeFully(fd: number, bytes: Uint8Array, position: number, path: string): void {
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  } catch (err) {
    throw fsError(err, 'write', path);
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
 * name in one step (publishAtomically): nobody sees half a file, and a failure leaves nothing behind.
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
      throw fsError(err, 'open', path);
    }
    write(fd);
    closeSync(fd);
    fd = undefined;
    try {
      // An exchange leaves the file we replaced under `temp`; it goes with the temporary name below.
      publishAtomically(temp, path, overwrite ? 'replace' : 'create');
    } catch (err) {
      if (isNdshmError(err, 'EEXIST')) throw fileExists(path);
      throw err;
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
    removeTemporary(temp);
  }
}
