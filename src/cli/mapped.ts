// Which processes have a segment mapped, from /proc/*/maps (processes of other users are not readable
// and do not show). A mapping counts only if it is the same object (device and inode) as the segment
// in this /dev/shm: with private /dev/shm mounts (containers), another process's "/dev/shm/x" is
// another object.

import { readFileSync, readdirSync, statSync } from 'node:fs';

export interface Mapper {
  readonly pid: number;
  readonly command: string;
}

/** A device number as /proc/PID/maps writes it ("00:1a": major and minor, hexadecimal). */
export function deviceString(dev: number): string {
  const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
  const minor = (dev & 0xff) | Number((BigInt(dev) >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** Segment name -> processes mapping that very object, for every process we may read. */
export function mappedSegments(): Map<string, Mapper[]> {
  const out = new Map<string, Mapper[]>();
  const identity = new Map<string, string | undefined>(); // name -> "dev inode" of our /dev/shm's object
  const identityOf = (name: string): string | undefined => {
    if (!identity.has(name)) {
      try {
        const st = statSync(`/dev/shm/${name}`);
        identity.set(name, `${deviceString(st.dev)} ${st.ino}`);
      } catch {
        identity.set(name, undefined);
      }
    }
    return identity.get(name);
  };
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
      // address perms offset dev inode path
      const fields = line.slice(0, at).trim().split(/\s+/);
      const mine = identityOf(name);
      if (mine === undefined || `${fields[3]} ${fields[4]}` !== mine) continue;
      seen.add(name);
      const list = out.get(name) ?? [];
      list.push({ pid: Number(entry), command });
      out.set(name, list);
    }
  }
  return out;
}
