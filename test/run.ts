// `npm test`: runs every *.test.js under dist/test with node's test runner, then checks that the suite
// left /dev/shm as it found it and that no watchdog process outlived its owner.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isOrphan, leftoverWatchdogs, mappedNames, removeSegments, shmNames, watchdogPids } from './helpers/shm.js';

const root = fileURLToPath(new URL('.', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : []))
    .sort();
}

const filter = process.argv[2];
const files = testFiles(root).filter((f) => filter === undefined || f.includes(filter));
const shmBefore = new Set(shmNames());
const watchdogsBefore = new Set(watchdogPids());

console.log(`# node ${process.version}, Node-API ${process.versions.napi}, ${files.length} test files`);
const result = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...files], { stdio: 'inherit' });

// Watchdogs of test children exit right after their owners; give them a moment.
// 7 s: beyond the 5 s a watchdog may wait for a 'remote' array to be adopted.
const stray = await leftoverWatchdogs(watchdogsBefore, 7000);
// New segments that nothing alive holds are the suite's leaks; other programs may be using /dev/shm too.
const mapped = mappedNames();
const fresh = shmNames().filter((n) => !shmBefore.has(n));
const leaked = fresh.filter((n) => isOrphan(n, mapped));
const others = fresh.filter((n) => !leaked.includes(n));
if (others.length > 0) console.log(`# /dev/shm: ${others.length} segment(s) made meanwhile by other live programs, not judged: ${others.join(', ')}`);
let failed = result.status !== 0 || result.signal !== null;
console.log(`\n# /dev/shm check: ${leaked.length === 0 ? 'left as found' : `${leaked.length} segment(s) leaked: ${leaked.join(', ')}`}`);
console.log(`# watchdog check: ${stray.length === 0 ? 'none left running' : `${stray.length} still running: ${stray.join(', ')}`}`);
if (leaked.length > 0 || stray.length > 0) {
  failed = true;
  removeSegments(leaked); // do not leave the machine worse than we found it
}
process.exit(failed ? 1 : 0);
