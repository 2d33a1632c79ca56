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

/** The owner pid a watchdog watches (its first argument), or undefined if it is not one. */
function watchedOwner(pid: number): number | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    if (argv[0]!.startsWith('ndshm-watchdog')) return Number(argv[0]!.split(' ')[1]);
    const at = argv.findIndex((a) => a.endsWith('watchdog-main.js'));
    return at >= 0 ? Number(argv[at + 1]) : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Watchdogs started since `before` whose owner has ended but which have not exited within `graceMs`
 * (watchdogs of other programs that are still running are none of the suite's business).
 */
export async function leftoverWatchdogs(before: Set<number>, graceMs: number): Promise<number[]> {
  const stray = (): number[] =>
    watchdogPids().filter((p) => {
      const owner = watchedOwner(p);
      return !before.has(p) && owner !== undefined && !alive(owner);
    });
  const start = Date.now();
  let left = stray();
  while (left.length > 0 && Date.now() - start < graceMs) {
    await sleep(50);
    left = stray();
  }
  return left;
}

/** Names mapped by any process we can read (from /proc/PID/maps). */
export function mappedNames(): Set<string> {
  const out = new Set<string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      for (const line of readFileSync(`/proc/${entry}/maps`, 'latin1').split('\n')) {
        const at = line.indexOf('/dev/shm/');
        if (at >= 0) out.add(line.slice(at + 9).replace(/ \(deleted\)$/, ''));
      }
    } catch {
      // exited, or not ours to read
    }
  }
  return out;
}

/**
 * A segment nothing alive holds: its ndshm owner (header) has ended, or it has no owner and no
 * process maps it. A segment another program on the machine is using is not ours to judge.
 */
export function isOrphan(name: string, mapped: Set<string>): boolean {
  if (mapped.has(name)) return false;
  try {
    const head = readFileSync(`/dev/shm/${name}`).subarray(0, 64);
    if (head.subarray(0, 8).toString('latin1') === 'NDSHMARR') {
      const pid = head.readUInt32LE(56);
      try {
        process.kill(pid, 0);
        return false; // its owner is alive
      } catch {
        return true;
      }
    }
  } catch {
    return false; // gone already
  }
  return true;
}

/**
 * Names in /dev/shm that appeared since `before` and that belong to one of `pids` (their ndshm header
 * names it as the owner), or are one of `names`: what these processes left behind. Other programs,
 * and other test files running at the same time, may create segments meanwhile; those do not count.
 */
export function leftBy(before: Set<string>, pids: readonly number[], names: readonly string[] = []): string[] {
  return shmNames().filter((n) => {
    if (before.has(n)) return false;
    if (names.includes(n)) return true;
    try {
      const head = readFileSync(`/dev/shm/${n}`).subarray(0, 64);
      return head.subarray(0, 8).toString('latin1') === 'NDSHMARR' && pids.includes(head.readUInt32LE(56));
    } catch {
      return false;
    }
  });
}
