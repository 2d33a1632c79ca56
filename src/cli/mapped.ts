// Which processes have a segment mapped, from /proc/*/maps (processes of other users are not readable
// and do not show).

import { readFileSync, readdirSync } from 'node:fs';

export interface Mapper {
  readonly pid: number;
  readonly command: string;
}

/** Segment name -> processes mapping it, for every process we may read. */
export function mappedSegments(): Map<string, Mapper[]> {
  const out = new Map<string, Mapper[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let maps: string;
    let command: string;
    try {
      maps = readFileSync(`/proc/${entry}/maps`, 'latin1');
      command = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ').slice(0, 60);
    } catch {
      continue;
    }
    const seen = new Set<string>();
    for (const line of maps.split('\n')) {
      const at = line.indexOf('/dev/shm/');
      if (at < 0) continue;
      const name = line.slice(at + 9).replace(/ \(deleted\)$/, '');
      if (seen.has(name)) continue;
      seen.add(name);
      const list = out.get(name) ?? [];
      list.push({ pid: Number(entry), command });
      out.set(name, list);
    }
  }
  return out;
}
