// The worked example of docs/host-groups.md, run as written (with the package import pointed at this
// build): under `ndshm run -n 3`, and alone as a group of one.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

import { shmNames } from '../helpers/shm.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const index = new URL('../../src/index.js', import.meta.url).href;

it('the worked example of docs/host-groups.md: 3 members and 1 member get the same sum; nothing is left', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/host-groups.md', import.meta.url)), 'utf8');
  const block = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('fill.mjs'));
  assert.ok(block, 'the example is in the document');
  const dir = mkdtempSync(`${tmpdir()}/ndshm-example-`);
  const before = new Set(shmNames());
  try {
    const file = `${dir}/fill.mjs`;
    writeFileSync(file, block.replace("from 'ndshm'", `from ${JSON.stringify(index)}`));
    const run = spawnSync(process.execPath, [cli, 'run', '-n', '3', '--', process.execPath, file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'sum 8002000000 from 3 member(s); tracked on this host: 32000000 bytes\n');
    const alone = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(alone.status, 0, alone.stderr);
    assert.equal(alone.stdout, 'sum 8002000000 from 1 member(s); tracked on this host: 32000000 bytes\n');
    assert.deepEqual(shmNames().filter((n) => !before.has(n)), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
