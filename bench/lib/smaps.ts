// A process's memory as /proc/PID/smaps_rollup counts it, in bytes. PSS (proportional set size)
// charges each page to the processes that map it in equal parts, so the PSS of all processes adds up
// to the memory they use together: a page shared by five processes counts one fifth in each.

import { readFileSync } from 'node:fs';

export interface Smaps {
  readonly rss: number;
  readonly pss: number;
  readonly pssAnon: number;
  readonly pssFile: number;
  readonly pssShmem: number;
}

const fields: Record<string, keyof Smaps> = { Rss: 'rss', Pss: 'pss', Pss_Anon: 'pssAnon', Pss_File: 'pssFile', Pss_Shmem: 'pssShmem' };

export function parseSmapsRollup(text: string): Smaps {
  const out: Partial<Record<keyof Smaps, number>> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    const key = m === null ? undefined : fields[m[1]!];
    if (key !== undefined) out[key] = Number(m![2]) * 1024;
  }
  for (const key of Object.values(fields)) {
    if (out[key] === undefined) throw new Error(`smaps_rollup has no ${key} line (Linux 5.0+ is needed)`);
  }
  return out as Smaps;
}

/** /proc/`pid`/smaps_rollup of this process or another one of this user. */
export function readSmaps(pid: number | 'self' = 'self'): Smaps {
  return parseSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
}

/** The sum, field by field. */
export function addSmaps(list: readonly Smaps[]): Smaps {
  const total = { rss: 0, pss: 0, pssAnon: 0, pssFile: 0, pssShmem: 0 };
  for (const s of list) for (const k of Object.keys(total) as (keyof Smaps)[]) total[k] += s[k];
  return total;
}
