// `npm test`: runs every *.test.js under dist/test with node's test runner, then checks that the suite
// left /dev/shm as it found it and that no watchdog process outlived its owner.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { leftoverWatchdogs, removeSegments, shmNames, watchdogPids } from './helpers/shm.js';

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
const stray = await leftoverWatchdogs(watchdogsBefore, 5000);
const leaked = shmNames().filter((n) => !shmBefore.has(n));
let failed = result.status !== 0 || result.signal !== null;
console.log(`\n# /dev/shm check: ${leaked.length === 0 ? 'left as found' : `${leaked.length} segment(s) leaked: ${leaked.join(', ')}`}`);
console.log(`# watchdog check: ${stray.length === 0 ? 'none left running' : `${stray.length} still running: ${stray.join(', ')}`}`);
if (leaked.length > 0 || stray.length > 0) {
  failed = true;
  removeSegments(leaked); // do not leave the machine worse than we found it
}
process.exit(failed ? 1 : 0);
