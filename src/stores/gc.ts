// gc(): arrays whose owner is gone (ndarray/gc.ts), plus what a crashed store writer can leave:
// stores whose manifest lists missing segments, store segments no manifest lists, and cute-shm
// manifests whose segments are all gone.

import { unlinkSync } from 'node:fs';

import { type GcEntry, type GcOptions, gcArrays } from '../ndarray/gc.js';
import { checkBoolean, checkOptions } from '../options.js';
import * as header from '../segment/header.js';
import { isAlive } from '../segment/owner.js';
import { inspectSegment, shmDir } from '../segment/reap.js';
import { Segment } from '../segment/segment.js';
import { readManifest, removeSegments } from './builder.js';
import { defaultCuteShmRoot, listCuteShm, readCuteShmSegments } from './cute-shm.js';
import type { Manifest } from './manifest.js';
import { manifestName, manifestPrefix } from './names.js';

export interface StoreGcOptions extends GcOptions {
  cuteShmRoot?: string;
}

function remove(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes this user's garbage in shared memory: non-persistent arrays and stores whose owner has
 * ended, broken stores, store segments that no published store lists and whose writer has ended,
 * and cute-shm manifests whose segments are all gone. `dryRun` reports without removing.
 */
export function gc(options?: StoreGcOptions): GcEntry[] {
  const opts = checkOptions(options, ['dryRun', 'cuteShmRoot'], 'gc');
  const dryRun = checkBoolean(opts.dryRun, 'dryRun', false);
  const out = gcArrays({ dryRun });
  const gone = new Set(out.filter((e) => e.removed).map((e) => e.name));
  const exists = (name: string, id: string): boolean => !gone.has(name) && inspectSegment(name)?.header?.arrayId.toString(16) === id;

  const listed = new Set<string>();
  const segments = Segment.list();
  for (const s of segments) {
    if (!s.name.startsWith(manifestPrefix)) continue;
    const store = s.name.slice(manifestPrefix.length);
    let m: Manifest | undefined;
    let broken: string | undefined;
    try {
      m = readManifest(store);
    } catch (err) {
      broken = (err as Error).message;
    }
    if (m !== undefined) {
      m.segments.forEach((seg) => listed.add(seg.name));
      const missing = m.segments.filter((seg) => !exists(seg.name, seg.id));
      if (missing.length > 0) broken = `store "${store}" lists ${missing.length} missing segment(s): ${missing.map((x) => x.name).join(', ')}`;
    }
    if (broken === undefined) continue;
    let removed = false;
    if (!dryRun) {
      removed = remove(`${shmDir}/${manifestName(store)}`);
      if (m !== undefined) removeSegments(m);
    }
    out.push({ name: s.name, size: s.size, ownerPid: m?.owner.pid ?? 0, removed, reason: broken });
  }

  for (const s of segments) {
    const file = inspectSegment(s.name);
    const h = file?.header;
    if (h === undefined || ((h.flags ?? 0) & header.flagStoreData) === 0 || listed.has(s.name) || gone.has(s.name)) continue;
    if (isAlive({ pid: h.ownerPid, startTime: h.ownerStart })) continue; // a writer still at work
    const removed = !dryRun && remove(`${shmDir}/${s.name}`);
    out.push({ name: s.name, size: s.size, ownerPid: h.ownerPid, removed, reason: 'a store segment that no store lists, from a writer that has ended' });
  }

  for (const { project, path } of listCuteShm(opts.cuteShmRoot ?? defaultCuteShmRoot)) {
    const names = readCuteShmSegments(path);
    if (names.length > 0 && names.some((n) => inspectSegment(n) !== undefined)) continue;
    const removed = !dryRun && remove(path);
    out.push({ name: path, size: 0, ownerPid: 0, removed, reason: `cute-shm store "${project}" has none of its segments` });
  }
  return out;
}
