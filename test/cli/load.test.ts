// ndshm load, as a user runs it: files written by numpy and HDF5, its progress, and its error paths.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { type StoreLeaf, listStores, releaseArrays, shmToArrays, unlink } from '../../src/index.js';
import { writeSmallFixtures } from '../../scripts/gen-hdf5-fixtures.js';
import { tinyShm } from '../helpers/namespace.js';
import { python, pythonMissing } from '../helpers/python.js';
import { leftBy, shmNames, uniqueName } from '../helpers/shm.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const pids: number[] = [];
const ndshm = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  pids.push(r.pid);
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const skip = pythonMissing() ?? false;
const dir = mkdtempSync(`${tmpdir()}/ndshm-cli-`);
const stores: string[] = [];
const storeName = (tag: string): string => {
  const n = uniqueName(tag).slice(0, 24);
  stores.push(n);
  return n;
};

before(() => {
  if (skip) return;
  python(
    `import sys, numpy as np
d = sys.argv[1]
np.save(f'{d}/grid.npy', np.arange(12, dtype=np.float32).reshape(3, 4))
np.save(f'{d}/big.npy', np.ones(4 << 20, dtype=np.float64))    # 32 MiB: several progress steps
np.save(f'{d}/two-mib.npy', np.ones(1 << 18, dtype=np.float64))
np.savez_compressed(f'{d}/bundle.npz', a=np.arange(5), b=np.eye(3, dtype='>f4'))
open(f'{d}/broken.npy', 'wb').write(open(f'{d}/grid.npy', 'rb').read()[:100])`,
    [dir],
  );
});
after(() => {
  for (const s of stores) {
    try {
      unlink(s);
    } catch {
      // removed by the test
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('ndshm load', { skip }, () => {
  it('loads a .npy into a persistent store that other processes read', () => {
    const name = storeName('npy');
    const r = ndshm('load', name, `${dir}/grid.npy`, '--no-progress');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `loaded ${dir}/grid.npy into store "${name}": 1 array, 48 B, persistent (ndshm unlink ${name} removes it)\n`);
    assert.equal(r.err, '');
    const t = shmToArrays(name);
    assert.deepEqual((t['grid'] as StoreLeaf).data.toArray(), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    releaseArrays(t);
    assert.equal(listStores().find((s) => s.name === name)?.persistent, true);
  });

  it('refuses an existing store in one line and leaves it alone; -o replaces it', () => {
    const name = storeName('dup');
    assert.equal(ndshm('load', name, `${dir}/grid.npy`, '--no-progress').code, 0);
    const again = ndshm('load', name, `${dir}/bundle.npz`, '--no-progress');
    assert.equal(again.code, 1);
    assert.equal(again.err, `ndshm load: a store named "${name}" already exists (-o replaces it)\n`);
    assert.deepEqual(listStores().find((s) => s.name === name)!.arrays.map((a) => a.path.join('/')), ['grid']);
    const o = ndshm('load', name, `${dir}/bundle.npz`, '-o', '-v', '--no-progress');
    assert.equal(o.code, 0, o.err);
    assert.match(o.out, /2 arrays/);
    assert.match(o.out, /\n {2}a {2}<i8 {2}\(5\)\n {2}b {2}>f4 {2}\(3, 3\)\n$/);
  });

  it('loads an HDF5 file', async () => {
    const name = storeName('h5');
    const { small } = await writeSmallFixtures(dir);
    const r = ndshm('load', name, small, '--no-progress', '-v');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`into store "${name}": \\d+ arrays`));
    assert.ok(listStores().find((s) => s.name === name)!.arrays.length > 0);
  });

  it('shows progress as plain lines when piped, none with --no-progress', () => {
    const name = storeName('prog');
    const r = ndshm('load', name, `${dir}/big.npy`);
    assert.equal(r.code, 0, r.err);
    const lines = r.err.trim().split('\n');
    assert.ok(lines.length >= 3, r.err);
    assert.match(lines[0]!, new RegExp(`^loading ${dir}/big.npy: 0% \\(`));
    assert.match(lines.at(-1)!, /: 100% \(32\.0 MiB of 32\.0 MiB\)$/);
    unlink(name);
    assert.equal(ndshm('load', name, `${dir}/big.npy`, '--no-progress').err, '');
  });

  it('error paths: one line on stderr, a non-zero code, no stack trace unless -v, nothing left behind', () => {
    const before = new Set(shmNames());
    const cases: [string[], number, RegExp][] = [
      [[storeName('missing'), `${dir}/nope.npy`], 1, /^ndshm load: no such file: .*nope\.npy\n$/],
      [['bad/name', `${dir}/grid.npy`], 1, /^ndshm load: store name "bad\/name" is not valid/],
      [[storeName('broken'), `${dir}/broken.npy`], 1, /^ndshm load: .*broken\.npy.*\n$/],
      [[storeName('ext'), `${dir}/data.csv`], 2, /^ndshm load: cannot load ".*data\.csv": the file must end in \.h5, \.hdf5, \.npy or \.npz\n$/],
      [['only-a-name'], 2, /^ndshm load: missing argument \(see --help\)\n$/],
    ];
    writeFileSync(`${dir}/data.csv`, '1,2\n');
    for (const [args, code, message] of cases) {
      const r = ndshm('load', ...args, '--no-progress');
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.equal(r.err.split('\n').length, 2, `one line: ${r.err}`);
    }
    const verbose = ndshm('load', storeName('verbose'), `${dir}/broken.npy`, '-v', '--no-progress');
    assert.equal(verbose.code, 1);
    assert.match(verbose.err, /\n\s+at /, 'a stack trace with -v');
    assert.deepEqual(leftBy(before, pids, stores.map((n) => `store.${n}`)), []);
  });

  it('a full /dev/shm: ENOSPC in one line, and nothing left in it', () => {
    const prefix = tinyShm('1m');
    if (typeof prefix === 'string') return void console.log(`# skipped: ${prefix}`);
    const script = `
      const { spawnSync } = require('node:child_process');
      const r = spawnSync(process.execPath, [${JSON.stringify(cli)}, 'load', 'big', ${JSON.stringify(`${dir}/two-mib.npy`)}, '--no-progress'], { encoding: 'utf8' });
      console.log(JSON.stringify({ code: r.status, err: r.stderr, left: require('node:fs').readdirSync('/dev/shm') }));`;
    const r = spawnSync(prefix[0]!, [...prefix.slice(1), process.execPath, '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { code: number; err: string; left: string[] };
    assert.equal(out.code, 1);
    assert.match(out.err, /^ndshm load: not enough shared memory for segment "sd-[^"]+": 2\.00 MiB requested, [\d.]+ \w+ free of 1\.00 MiB in \/dev\/shm\n$/);
    assert.deepEqual(out.left, []);
  });
});
