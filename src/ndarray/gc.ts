// Removing what crashed owners left behind: non-persistent ndshm arrays whose owner process is gone.

import { checkBoolean, checkOptions } from '../options.js';
import * as lifetime from '../segment/lifetime.js';
import { isAlive } from '../segment/owner.js';
import { Segment } from '../segment/segment.js';
import { inspectSegment } from '../segment/shm-files.js';

export interface GcOptions {
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
}

export interface GcEntry {
  readonly name: string;
  readonly size: number;
  /** The owner the header names (0 when there is none). */
  readonly ownerPid: number;
  readonly removed: boolean;
  /** Why it is garbage. */
  readonly reason: string;
}

/**
 * Removes this user's ndshm arrays that are not persistent and whose owner process has ended (or
 * whose pid now belongs to another process). Segments without an ndshm header are never touched.
 */
export function gcArrays(options?: GcOptions): GcEntry[] {
  const opts = checkOptions(options, ['dryRun'], 'gc');
  const dryRun = checkBoolean(opts.dryRun, 'dryRun', false);
  const out: GcEntry[] = [];
  for (const s of Segment.list()) {
    const file = inspectSegment(s.name);
    const h = file?.header;
    if (file === undefined || h === undefined || h.persistent) continue;
    if (isAlive({ pid: h.ownerPid, startTime: h.ownerStart })) continue;
    // Checked again just before: the owner may have changed (a 'remote' adoption).
    const removed = !dryRun && lifetime.removeExpected(s.name, { ino: file.ino, tag: h.ownerTag, uid: file.uid });
    out.push({ name: s.name, size: file.size, ownerPid: h.ownerPid, removed, reason: `its owner (pid ${h.ownerPid}) has ended` });
  }
  return out;
}
