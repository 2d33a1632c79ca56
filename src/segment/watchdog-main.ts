// The watchdog process (see watchdog.ts). Input lines: "+INODE NAME" (now owned), "-NAME" (no longer),
// "~NAME" (on its way to another process). At end of input the owner is gone: remove what it still
// owns, give remote arrays their grace period to be adopted, then exit.

import { setTimeout as sleep } from 'node:timers/promises';

import { inspectSegment, removeIfOwnedBy } from './reap.js';

const tag = BigInt(process.argv[3] ?? '0');
const graceMs = Number(process.argv[4] ?? '5000');
process.title = `ndshm-watchdog ${process.argv[2] ?? ''}`.trim();

const owned = new Map<string, number>();
const remote = new Set<string>();
let pending = '';

function apply(line: string): void {
  if (line.startsWith('+')) {
    const space = line.indexOf(' ');
    owned.set(line.slice(space + 1), Number(line.slice(1, space)));
  } else if (line.startsWith('-')) {
    owned.delete(line.slice(1));
    remote.delete(line.slice(1));
  } else if (line.startsWith('~')) {
    remote.add(line.slice(1));
  }
}

function stillOurs(name: string, ino: number): boolean {
  const file = inspectSegment(name);
  return file !== undefined && file.ino === ino && (file.header === undefined || file.header.ownerTag === tag);
}

async function finish(): Promise<void> {
  for (const [name, ino] of owned) if (!remote.has(name)) removeIfOwnedBy(name, ino, tag);
  const deadline = Date.now() + graceMs;
  let waiting = [...remote].filter((n) => owned.has(n));
  while (waiting.length > 0 && Date.now() < deadline) {
    waiting = waiting.filter((n) => stillOurs(n, owned.get(n)!));
    if (waiting.length > 0) await sleep(50);
  }
  for (const name of waiting) removeIfOwnedBy(name, owned.get(name)!, tag);
  process.exit(0);
}

process.stdin.setEncoding('latin1');
process.stdin.on('data', (chunk: string) => {
  const lines = (pending + chunk).split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) apply(line);
});
process.stdin.on('end', () => void finish());
process.stdin.on('error', () => void finish());
