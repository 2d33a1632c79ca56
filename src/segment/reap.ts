// Removal of segments whose owner is gone, by the watchdog (for one owner) and by gc (for all).
// It reads /dev/shm directly and never loads the addon, so the watchdog stays a small process.

import { closeSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';

import { type Header, fixedLength, hasMagic, headerLength, maxDims, readHeader } from './header.js';

export const shmDir = '/dev/shm';

export interface SegmentFile {
  readonly ino: number;
  readonly size: number;
  readonly uid: number;
  readonly mode: number;
  /** The parsed header of an ndshm array; undefined for raw segments. */
  readonly header: Header | undefined;
  /** Set when the segment has the ndshm magic but its header does not check out. */
  readonly headerError: Error | undefined;
}

/** Reads a segment's identity and header through /dev/shm; undefined if it does not exist. */
export function inspectSegment(name: string): SegmentFile | undefined {
  let fd: number;
  try {
    fd = openSync(`${shmDir}/${name}`, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const bytes = new Uint8Array(Math.min(st.size, headerLength(maxDims)));
    const got = bytes.length > 0 ? readSync(fd, bytes, 0, bytes.length, 0) : 0;
    let header: Header | undefined;
    let headerError: Error | undefined;
    if (got >= fixedLength && hasMagic(bytes)) {
      try {
        header = readHeader(bytes.subarray(0, got), st.size, name);
      } catch (err) {
        headerError = err as Error;
      }
    }
    return { ino: st.ino, size: st.size, uid: st.uid, mode: st.mode & 0o7777, header, headerError };
  } finally {
    closeSync(fd);
  }
}

/** Unlinks `name` if it is still the object (inode) its owner created and still belongs to `tag`. */
export function removeIfOwnedBy(name: string, ino: number, tag: bigint): boolean {
  const file = inspectSegment(name);
  if (file === undefined || file.ino !== ino) return false;
  if (file.header !== undefined && file.header.ownerTag !== tag) return false; // ownership moved on
  try {
    unlinkSync(`${shmDir}/${name}`);
    return true;
  } catch {
    return false;
  }
}
