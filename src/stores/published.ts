// Published stores as they are found in /dev/shm: reading a manifest (untrusted: another process of
// this user wrote it, or something else put a file there), and removing a store or the segments of
// a manifest. The read path and store removal live here, not in the writer.

import { closeSync, lstatSync } from 'node:fs';

import { NdshmError, isNdshmError } from '../errors.js';
import { openRegular, readExactly } from '../files.js';
import * as lifetime from '../segment/lifetime.js';
import { shmPath } from '../segment/shm-files.js';
import { type Manifest, decodeManifest } from './manifest.js';
import { manifestName } from './names.js';

/** A manifest larger than this is refused (EBADHEADER) before it is read. */
export const maxManifestBytes = 256 << 20;

const myUid = process.getuid?.();

export interface ManifestFile {
  readonly manifest: Manifest;
  /** The manifest object's inode: tells it apart from a later one published under the same name. */
  readonly ino: number;
}

/**
 * The published manifest of store `name` and its inode, or undefined if there is none. EFTYPE if
 * something other than a regular file has the manifest's name, EACCES if another user's file does,
 * EBADHEADER if it is corrupt. Never blocks.
 */
export function readManifestFile(name: string): ManifestFile | undefined {
  return readManifestAt(manifestName(name), name);
}

/**
 * A manifest under any segment name (a temporary one while it is published, or after it was
 * replaced); `store` is the store it must name, any when undefined.
 */
export function readManifestAt(segmentName: string, store: string | undefined): ManifestFile | undefined {
  const name = store ?? segmentName;
  const path = shmPath(segmentName);
  let file;
  try {
    file = openRegular(path, myUid === undefined ? {} : { uid: myUid });
  } catch (err) {
    if (isNdshmError(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    if (file.size > maxManifestBytes) throw new NdshmError('EBADHEADER', `the manifest of store "${name}" is ${file.size} bytes, more than ${maxManifestBytes}`, { segment: name });
    const bytes = Buffer.alloc(file.size);
    readExactly(file, bytes, 0);
    return { manifest: decodeManifest(bytes, store), ino: file.ino };
  } finally {
    closeSync(file.fd);
  }
}

/** The published manifest of store `name`, or undefined if there is none (see readManifestFile). */
export function readManifest(name: string): Manifest | undefined {
  return readManifestFile(name)?.manifest;
}

/** Whether anything at all has the manifest name of store `name` (it may not be a valid store). */
export function manifestExists(name: string): boolean {
  try {
    lstatSync(shmPath(manifestName(name)));
    return true;
  } catch {
    return false;
  }
}

export function storeExists(name: string): NdshmError {
  return new NdshmError('EEXIST', `a store named "${name}" already exists (use overwrite to replace it)`, { segment: name });
}

/** Removes the segments `m` lists that are still the ones it lists (by array id), except `keep`. */
export function removeManifestSegments(m: Manifest, keep: ReadonlySet<string> = new Set()): void {
  for (const s of m.segments) {
    if (!keep.has(s.name)) lifetime.removeExpected(s.name, { arrayId: BigInt(`0x${s.id}`) });
  }
}

/**
 * Removes store `name`: its manifest first (so that no reader finds the store any more), then its
 * segments. False if there is no such store.
 */
export function removeStore(name: string): boolean {
  const found = readManifestFile(name);
  if (found === undefined) return false;
  if (!lifetime.removeExpected(manifestName(name), { ino: found.ino })) {
    throw new NdshmError('ENOENT', `store "${name}" was removed or replaced meanwhile`, { segment: name });
  }
  removeManifestSegments(found.manifest);
  return true;
}
