// Removing what crashed owners left behind: non-persistent ndshm arrays whose owner process is gone.

import { unlinkSync } from 'node:fs';

import { checkBoolean, checkOptions } from '../options.js';
import { isAlive } from '../segment/owner.js';
import { inspectSegment, shmDir } from '../segment/reap.js';
import { Segment } from '../segment/segment.js';

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
    let removed = false;
    if (!dryRun) {
      // Check again just before: the owner may have been replaced (a 'remote' adoption).
      const again = inspectSegment(s.name);
      if (again?.ino === file.ino && again.header?.ownerTag === h.ownerTag) {
        try {
          unlinkSync(`${shmDir}/${s.name}`);
          removed = true;
        } catch {
          // gone meanwhile
        }
      }
    }
    out.push({ name: s.name, size: file.size, ownerPid: h.ownerPid, removed, reason: `its owner (pid ${h.ownerPid}) has ended` });
  }
  return out;
}
