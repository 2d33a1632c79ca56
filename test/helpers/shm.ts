import { readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

let seq = 0;

/** A segment name unique to this process and call, at most 30 characters. */
export function uniqueName(tag = 'x'): string {
  return `t${process.pid.toString(36)}${(seq++).toString(36)}-${tag}`.slice(0, 30);
}

export function shmNames(): string[] {
  const uid = process.getuid?.();
  return readdirSync('/dev/shm').filter((n) => {
    try {
      return statSync(`/dev/shm/${n}`).uid === uid && !n.startsWith('sem.');
    } catch {
      return false;
    }
  });
}

export function exists(name: string): boolean {
  try {
    statSync(`/dev/shm/${name}`);
    return true;
  } catch {
    return false;
  }
}

export function removeSegments(names: readonly string[]): void {
  for (const n of names) {
    try {
      unlinkSync(`/dev/shm/${n}`);
    } catch {
      // gone already
    }
  }
}

/** Polls until `condition` holds; throws with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - start;
}

/** Pids of running (not zombie) ndshm watchdog processes; only the one watching `owner` if given. */
export function watchdogPids(owner?: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      const argv = cmdline.split('\0');
      const isWatchdog = argv.some((a) => a.endsWith('watchdog-main.js')) || argv[0]!.startsWith('ndshm-watchdog');
      const watches = argv[0]!.startsWith('ndshm-watchdog') ? Number(argv[0]!.split(' ')[1]) : Number(argv[argv.findIndex((a) => a.endsWith('watchdog-main.js')) + 1]);
      if (isWatchdog && state !== 'Z' && (owner === undefined || watches === owner)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

export async function leftoverWatchdogs(before: Set<number>, graceMs: number): Promise<number[]> {
  const start = Date.now();
  let left = watchdogPids().filter((p) => !before.has(p));
  while (left.length > 0 && Date.now() - start < graceMs) {
    await sleep(50);
    left = watchdogPids().filter((p) => !before.has(p));
  }
  return left;
}
