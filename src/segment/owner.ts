// Who owns a segment: a process, identified by pid and start time so that a reused pid is not
// mistaken for the original owner, and a random tag per JavaScript environment (thread).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface Owner {
  readonly pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22); 0 when unknown. */
  readonly startTime: number;
}

/** Start time of a process, or undefined when it does not exist (or is a zombie). */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : 0;
}

export function isAlive(owner: Owner): boolean {
  if (owner.pid <= 0) return false;
  const start = processStartTime(owner.pid);
  return start !== undefined && (owner.startTime === 0 || start === owner.startTime);
}

export const self: Owner = { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 };

/** Distinguishes this thread's environment from the other threads of the same process. */
export const envTag: bigint = randomBytes(8).readBigUInt64LE() || 1n;
