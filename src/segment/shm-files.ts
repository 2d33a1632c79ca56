// The entries of /dev/shm as files: listing, inspecting (type, owner, header) without ever blocking
// or following a link, and the one function that removes a name there. No addon: the watchdog
// process uses this module too. Policy (whose names may go, and when) lives in lifetime.ts.

import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, readdirSync, unlinkSync } from 'node:fs';

import { fileKind } from '../files.js';
import { type Header, fixedLength, hasMagic, headerLength, maxDims, readHeader } from './header.js';

export const shmDir = '/dev/shm';

export const shmPath = (name: string): string => `${shmDir}/${name}`;

export interface SegmentFile {
  readonly ino: number;
  readonly dev: number;
  readonly size: number;
  readonly uid: number;
  readonly mode: number;
  /** False for a FIFO, socket, directory, device or link under the name: never opened, never read. */
  readonly regular: boolean;
  /** The first 8 bytes (latin1): "NDSHMARR" for arrays, "NDSHMSTO" for store manifests, ... */
  readonly magic: string;
  /** The parsed header of an ndshm array; undefined for anything else. */
  readonly header: Header | undefined;
  /** Set when the segment has the array magic but its header does not check out. */
  readonly headerError: Error | undefined;
}

const openFlags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/**
 * Reads a segment's identity and header through /dev/shm; undefined if it does not exist (or cannot
 * be read). The open never blocks, and only a regular file is read.
 */
export function inspectSegment(name: string): SegmentFile | undefined {
  let fd: number;
  try {
    fd = openSync(shmPath(name), openFlags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'ENXIO') return undefined;
    return special(name);
  }
  try {
    const st = fstatSync(fd);
    const base = { ino: st.ino, dev: st.dev, size: st.size, uid: st.uid, mode: st.mode & 0o7777 };
    if (!st.isFile()) return { ...base, regular: false, magic: '', header: undefined, headerError: undefined };
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
    const magic = Buffer.from(bytes.subarray(0, Math.min(8, got))).toString('latin1');
    return { ...base, regular: true, magic, header, headerError };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

// A symbolic link or a socket: what lstat says, without opening it.
function special(name: string): SegmentFile | undefined {
  try {
    const st = lstatSync(shmPath(name));
    return { ino: st.ino, dev: st.dev, size: st.size, uid: st.uid, mode: st.mode & 0o7777, regular: false, magic: '', header: undefined, headerError: undefined };
  } catch {
    return undefined;
  }
}

export interface ShmEntry {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly ino: number;
  readonly mtime: Date;
  readonly regular: boolean;
  /** "a FIFO", "a directory", ... when not regular. */
  readonly kind: string | undefined;
}

/** The entries of /dev/shm that belong to `uid` (all when undefined), from lstat: nothing is opened. */
export function listShm(uid: number | undefined): ShmEntry[] {
  const out: ShmEntry[] = [];
  let names: string[];
  try {
    names = readdirSync(shmDir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.startsWith('sem.')) continue; // POSIX semaphores
    try {
      const st = lstatSync(shmPath(name));
      if (uid !== undefined && st.uid !== uid) continue;
      const regular = st.isFile();
      out.push({ name, size: st.size, mode: st.mode & 0o7777, uid: st.uid, ino: st.ino, mtime: st.mtime, regular, kind: regular ? undefined : fileKind(st.mode) });
    } catch {
      // removed while we listed
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What must still hold for a name to be removed. */
export interface Expectation {
  /** The object under the name is this inode (the one its owner made). */
  readonly ino?: number;
  /** An ndshm array's header names this owner tag (ownership has not moved on). */
  readonly tag?: bigint;
  /** An ndshm array's header has this array id. */
  readonly arrayId?: bigint;
  /** The file belongs to this user (never remove another user's file, whatever a manifest says). */
  readonly uid?: number | undefined;
}

/** Whether `file` is still what `expect` describes. */
export function matches(file: SegmentFile, expect: Expectation): boolean {
  if (expect.ino !== undefined && file.ino !== expect.ino) return false;
  if (expect.tag !== undefined && file.header !== undefined && file.header.ownerTag !== expect.tag) return false;
  if (expect.arrayId !== undefined && file.header?.arrayId !== expect.arrayId) return false;
  if (expect.uid !== undefined && file.uid !== expect.uid) return false;
  return true;
}

/**
 * THE removal of a name in /dev/shm: unlinks `name` if it is still what `expect` describes. Returns
 * whether it removed it. Every removal in ndshm comes here, through lifetime.ts or gc.
 */
export function removeIf(name: string, expect: Expectation): boolean {
  const file = inspectSegment(name);
  if (file === undefined || !matches(file, expect)) return false;
  return unlinkName(name) === undefined;
}

/** Unlinks a name unconditionally; the fs error code on failure. Only removeIf and lifetime.ts call it. */
export function unlinkName(name: string): string | undefined {
  try {
    unlinkSync(shmPath(name));
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EIO';
  }
}
