// `npm test`: runs every *.test.js under dist/test with node's test runner, then checks that the suite
// left /dev/shm as it found it and that no watchdog process outlived its owner.
//
// Where it can (root, with unshare), the suite runs in a mount namespace of its own with a fresh
// tmpfs on /dev/shm: it then neither sees nor disturbs what other programs (another test run, for
// one) have in the host's /dev/shm, and "left as found" means exactly "left empty".
// NDSHM_TEST_HOST_SHM=1 runs it on the host's /dev/shm instead; it then judges only segments that
// nothing alive holds, and removes nothing (it cannot tell another program's from its own).

import { spawnSync } from 'node:child_process';
import { readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isOrphan, leftoverWatchdogs, mappedNames, shmNames, watchdogPids } from './helpers/shm.js';

const root = fileURLToPath(new URL('.', import.meta.url));

const canIsolate = (): boolean =>
  process.getuid?.() === 0 && spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /dev/shm'], { stdio: 'ignore' }).status === 0;

if (process.env['NDSHM_TEST_HOST_SHM'] !== '1' && process.env['NDSHM_TEST_PRIVATE_SHM'] !== '1') {
  if (canIsolate()) {
    const s = statfsSync('/dev/shm');
    const mount = `mount -t tmpfs -o size=${s.blocks * s.bsize},mode=1777 tmpfs /dev/shm && exec "$0" "$@"`;
    const inner = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', mount, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, NDSHM_TEST_PRIVATE_SHM: '1' },
    });
    process.exit(inner.status ?? 1);
  }
  console.log('# a private /dev/shm needs root and unshare: running on the host\'s');
}
const privateShm = process.env['NDSHM_TEST_PRIVATE_SHM'] === '1';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : []))
    .sort();
}

// Arguments: parts of test file paths; a file runs if its path contains any of them (all without).
const filters = process.argv.slice(2);
const files = testFiles(root).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
const shmBefore = new Set(shmNames());
const watchdogsBefore = new Set(watchdogPids());

console.log(`# node ${process.version}, Node-API ${process.versions.napi}, ${files.length} test files, ${privateShm ? 'a private /dev/shm (mount namespace)' : 'the host\'s /dev/shm'}`);
const result = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...files], { stdio: 'inherit' });

// Watchdogs of test children exit right after their owners; give them a moment.
// 7 s: beyond the 5 s a watchdog may wait for a 'remote' array to be adopted.
const stray = await leftoverWatchdogs(watchdogsBefore, 7000);
// New segments that nothing alive holds are the suite's leaks; other programs may be using /dev/shm too.
const mapped = mappedNames();
const fresh = shmNames().filter((n) => !shmBefore.has(n));
const leaked = privateShm ? fresh : fresh.filter((n) => isOrphan(n, mapped));
const others = fresh.filter((n) => !leaked.includes(n));
if (others.length > 0) console.log(`# /dev/shm: ${others.length} segment(s) made meanwhile by other live programs, not judged: ${others.join(', ')}`);
let failed = result.status !== 0 || result.signal !== null;
console.log(`\n# /dev/shm check: ${leaked.length === 0 ? 'left as found' : `${leaked.length} segment(s) leaked: ${leaked.join(', ')}`}`);
console.log(`# watchdog check: ${stray.length === 0 ? 'none left running' : `${stray.length} still running: ${stray.join(', ')}`}`);
if (leaked.length > 0 || stray.length > 0) failed = true;
process.exit(failed ? 1 : 0);
