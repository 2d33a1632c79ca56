// The watchdog process (see watchdog.ts). Input lines: "+INODE NAME" (now owned), "-NAME" (no longer).
// At end of input the owner is gone: remove what it still owns, then exit.

import { removeIfOwnedBy } from './reap.js';

const tag = BigInt(process.argv[3] ?? '0');
process.title = `ndshm-watchdog ${process.argv[2] ?? ''}`.trim();

const owned = new Map<string, number>();
let pending = '';

function apply(line: string): void {
  if (line.startsWith('+')) {
    const space = line.indexOf(' ');
    owned.set(line.slice(space + 1), Number(line.slice(1, space)));
  } else if (line.startsWith('-')) {
    owned.delete(line.slice(1));
  }
}

function finish(): void {
  for (const [name, ino] of owned) removeIfOwnedBy(name, ino, tag);
  process.exit(0);
}

process.stdin.setEncoding('latin1');
process.stdin.on('data', (chunk: string) => {
  const lines = (pending + chunk).split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) apply(line);
});
process.stdin.on('end', finish);
process.stdin.on('error', finish);
