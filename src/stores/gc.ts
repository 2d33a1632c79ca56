// gc(): arrays whose owner is gone (ndarray/gc.ts), plus what a crashed store writer can leave
// (docs/stores.md, "Publication"): stores whose manifest lists missing segments or is corrupt,
// unpublished manifests of writers that have ended, persistent store segments that no manifest
// (published, or being published by a live writer) lists, and cute-shm manifests whose segments are
// all gone. Removal goes through lifetime.removeExpected, checked just before.

import { unlinkSync } from 'node:fs';

import { type GcEntry, type GcOptions, gcArrays } from '../ndarray/gc.js';
import { checkBoolean, checkOptions } from '../options.js';
import * as header from '../segment/header.js';
import * as lifetime from '../segment/lifetime.js';
import { isAlive } from '../segment/owner.js';
import { type ShmEntry, inspectSegment, listShm } from '../segment/shm-files.js';

import { defaultCuteShmRoot, listCuteShm } from './cute-shm.js';
import { type Manifest, manifestMagic } from './manifest.js';
import { manifestName, manifestPrefix } from './names.js';
import { readManifestAt, readManifestFile, removeManifestSegments } from './published.js';

export interface StoreGcOptions extends GcOptions {
  /** cute-shm's manifest folder (default /tmp/cute-shm). */
  cuteShmRoot?: string;
}

const myUid = process.getuid?.();

interface Manifests {
  /** Published stores: store name -> manifest (or why it cannot be read). */
  readonly published: Map<string, { manifest?: Manifest; ino?: number; error?: string; size: number }>;
  /** Manifests under a temporary name (being published, or replaced): segment name -> manifest. */
  readonly unpublished: Map<string, { manifest?: Manifest; ino?: number; size: number }>;
  /** Segments a published manifest or a live writer's unpublished one lists. */
  readonly listed: Set<string>;
}

// Unpublished manifests first: a manifest being published moves from there to its store name, so
// reading in this order sees it at least once.
function readManifests(entries: readonly ShmEntry[]): Manifests {
  const published: Manifests['published'] = new Map();
  const unpublished: Manifests['unpublished'] = new Map();
  const listed = new Set<string>();
  for (const e of entries) {
    if (!e.regular || !e.name.startsWith('st-') || inspectSegment(e.name)?.magic !== manifestMagic) continue;
    try {
      const found = readManifestAt(e.name, undefined);
      unpublished.set(e.name, { ...found, size: e.size });
      const owner = found?.manifest.owner;
      if (found !== undefined && owner !== undefined && isAlive({ pid: owner.pid, startTime: owner.start })) {
        for (const s of found.manifest.segments) listed.add(s.name);
      }
    } catch {
      unpublished.set(e.name, { size: e.size });
    }
  }
  for (const e of entries) {
    if (!e.name.startsWith(manifestPrefix)) continue;
    const store = e.name.slice(manifestPrefix.length);
    if (!e.regular) {
      published.set(store, { error: `${e.kind}, not a manifest`, size: e.size });
      continue;
    }
    try {
      const found = readManifestFile(store);
      if (found === undefined) continue;
      published.set(store, { ...found, size: e.size });
      for (const s of found.manifest.segments) listed.add(s.name);
    } catch (err) {
      // A published manifest is always complete (atomic publication): one that does not read is
      // corrupt, and removable by its inode (the segments it lists are then orphans, collected below
      // or at the next gc).
      published.set(store, { error: (err as Error).message, ino: e.ino, size: e.size });
    }
  }
  return { published, unpublished, listed };
}

/**
 * Removes this user's garbage in shared memory: non-persistent arrays and stores whose owner has
 * ended, broken stores, unpublished manifests of writers that have ended, persistent store segments
 * that nothing lists, and cute-shm manifests whose segments are all gone. `dryRun` reports without
 * removing. A FIFO or any other special file is never opened; one under a store's name is reported.
 */
export function gc(options?: StoreGcOptions): GcEntry[] {
  const opts = checkOptions(options, ['dryRun', 'cuteShmRoot'], 'gc');
  const dryRun = checkBoolean(opts.dryRun, 'dryRun', false);
  const out = gcArrays({ dryRun });
  const gone = new Set(out.filter((e) => e.removed).map((e) => e.name));
  const exists = (name: string, id: string): boolean => !gone.has(name) && inspectSegment(name)?.header?.arrayId.toString(16) === id;
  const entries = listShm(myUid);
  const seen = readManifests(entries);

  for (const [store, found] of seen.published) {
    const m = found.manifest;
    let broken = found.error;
    if (m !== undefined) {
      const missing = m.segments.filter((seg) => !exists(seg.name, seg.id));
      if (missing.length > 0) broken = `store "${store}" lists ${missing.length} missing segment(s): ${missing.map((x) => x.name).join(', ')}`;
    }
    if (broken === undefined) continue;
    let removed = false;
    if (!dryRun && found.ino !== undefined) {
      removed = lifetime.removeExpected(manifestName(store), { ino: found.ino, uid: myUid });
      if (removed && m !== undefined) removeManifestSegments(m);
    }
    out.push({ name: manifestName(store), size: found.size, ownerPid: m?.owner.pid ?? 0, removed, reason: broken });
  }

  for (const [name, found] of seen.unpublished) {
    const owner = found.manifest?.owner;
    if (owner !== undefined && isAlive({ pid: owner.pid, startTime: owner.start })) continue; // being published
    const removed = !dryRun && found.ino !== undefined && lifetime.removeExpected(name, { ino: found.ino, uid: myUid });
    out.push({ name, size: found.size, ownerPid: owner?.pid ?? 0, removed, reason: 'an unpublished store manifest whose writer has ended' });
  }

  // Persistent store segments that nothing lists: left by a writer killed while publishing, or by a
  // crash while a replaced store was being removed. Listed again just before removal.
  const orphans = entries.filter((e) => {
    if (!e.regular || seen.listed.has(e.name) || gone.has(e.name)) return false;
    const h = inspectSegment(e.name)?.header;
    return h !== undefined && h.persistent && ((h.flags ?? 0) & header.flagStoreData) !== 0;
  });
  if (orphans.length > 0) {
    const again = readManifests(listShm(myUid)).listed;
    for (const e of orphans) {
      if (again.has(e.name)) continue;
      const file = inspectSegment(e.name);
      const h = file?.header;
      if (file === undefined || h === undefined) continue;
      const removed = !dryRun && lifetime.removeExpected(e.name, { ino: file.ino, arrayId: h.arrayId, uid: myUid });
      out.push({ name: e.name, size: file.size, ownerPid: h.ownerPid, removed, reason: 'a persistent store segment that no store lists' });
    }
  }

  for (const { project, path, names, error } of listCuteShm(opts.cuteShmRoot ?? defaultCuteShmRoot)) {
    if (error !== undefined || (names.length > 0 && names.some((n) => inspectSegment(n) !== undefined))) continue;
    const removed = !dryRun && removeCuteShmFile(path);
    out.push({ name: path, size: 0, ownerPid: 0, removed, reason: `cute-shm store "${project}" has none of its segments` });
  }
  return out;
}

function removeCuteShmFile(path: string): boolean {
  try {
    unlinkSync(path); // a regular file in cute-shm's folder (checked to be this user's, not shared)
    return true;
  } catch {
    return false;
  }
}
