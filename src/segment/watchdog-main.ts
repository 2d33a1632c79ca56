// The watchdog process (see watchdog.ts). Input lines:
//   "+INODE NAME"        NAME (that inode) is owned
//   "-NAME"              no longer owned
//   "~NAME"              on its way to another process ('remote'): give it time to be adopted
//   "=INODE FINAL NAME"  keep NAME if FINAL then names INODE (a store published under FINAL)
// At end of input the owner is gone: remove what it still owns, give remote arrays their grace
// period to be adopted, then exit. It never loads the addon.

import { setTimeout as sleep } from 'node:timers/promises';

import { inspectSegment, removeIf } from './shm-files.js';

const tag = BigInt(process.argv[3] ?? '0');
const graceMs = Number(process.argv[4] ?? '5000');
process.title = `ndshm-watchdog ${process.argv[2] ?? ''}`.trim();

interface Owned {
  ino: number;
  remote: boolean;
  keepIf: { name: string; ino: number } | undefined;
}
const owned = new Map<string, Owned>();
let pending = '';

function apply(line: string): void {
  const body = line.slice(1);
  switch (line[0]) {
    case '+': {
      const space = body.indexOf(' ');
      owned.set(body.slice(space + 1), { ino: Number(body.slice(0, space)), remote: false, keepIf: undefined });
      break;
    }
    case '-':
      owned.delete(body);
      break;
    case '~': {
      const o = owned.get(body);
      if (o !== undefined) o.remote = true;
      break;
    }
    case '=': {
      const [ino, final, name] = body.split(' ');
      const o = owned.get(name ?? '');
      if (o !== undefined && final !== undefined) o.keepIf = { name: final, ino: Number(ino) };
      break;
    }
  }
}

// Still offered (nobody adopted it yet) and still ours: worth waiting for.
function awaitingAdoption(name: string, ino: number): boolean {
  const file = inspectSegment(name);
  return file !== undefined && file.ino === ino && file.header !== undefined && file.header.ownerTag === tag && file.header.offer !== 0n;
}

async function finish(): Promise<void> {
  const remote: [string, number][] = [];
  for (const [name, o] of owned) {
    if (o.remote) remote.push([name, o.ino]);
    else if (o.keepIf !== undefined && inspectSegment(o.keepIf.name)?.ino === o.keepIf.ino) continue;
    else removeIf(name, { ino: o.ino, tag });
  }
  const deadline = Date.now() + graceMs;
  let waiting = remote.filter(([name, ino]) => awaitingAdoption(name, ino));
  while (waiting.length > 0 && Date.now() < deadline) {
    await sleep(50);
    waiting = waiting.filter(([name, ino]) => awaitingAdoption(name, ino));
  }
  // Not adopted in time. (An adoption in the very instant of this removal keeps its mapping; only the
  // name goes: this process cannot compare-and-swap the header.)
  for (const [name, ino] of waiting) removeIf(name, { ino, tag });
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
