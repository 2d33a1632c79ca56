// The ndshm command, driven as a user would: output, exit codes, one-line errors.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

import { Segment, SharedNDArray, arraysToShm, listStores, releaseArrays, shmToArrays, unlink } from '../../src/index.js';
import { exists, uniqueName } from '../helpers/shm.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export function ndshm(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const stores: string[] = [];
after(() => {
  for (const s of stores) {
    try {
      unlink(s);
    } catch {
      // removed by the test
    }
  }
});

describe('ndshm', () => {
  it('--help, per-command --help, and usage errors with exit code 2', () => {
    const top = ndshm('--help');
    assert.equal(top.code, 0);
    assert.match(top.out, /usage: ndshm <command>/);
    for (const c of ['load', 'list', 'info', 'unlink', 'gc', 'doctor', 'demo']) {
      const h = ndshm(c, '--help');
      assert.equal(h.code, 0, c);
      assert.match(h.out, new RegExp(`usage: ndshm ${c}`));
    }
    assert.equal(ndshm().code, 2);
    const unknown = ndshm('frobnicate');
    assert.equal(unknown.code, 2);
    assert.equal(unknown.err.trim().split('\n').length, 1);
    const bad = ndshm('list', '--bogus');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^ndshm list: Unknown option '--bogus' \(see --help\)\n$/);
    assert.equal(ndshm('info').code, 2);
    assert.equal(ndshm('load', 'x', 'data.csv').code, 2);
    assert.match(ndshm('--version').out, /^ndshm \d+\.\d+\.\d+\n$/);
  });

  it('list shows stores, their arrays, integrity and who maps them; --short and --json too', () => {
    const name = uniqueName('cli').slice(0, 24);
    stores.push(name);
    arraysToShm(name, { grid: { data: new Float32Array(6), attrs: { unit: 'K' } }, sub: { ids: new Int32Array([1, 2]) } });
    const held = shmToArrays(name); // this process maps the store's segments
    const full = ndshm('list');
    assert.equal(full.code, 0, full.err);
    assert.match(full.out, new RegExp(`${name}  \\(ndshm, removed with its writer, written by pid ${process.pid}\\)  2 arrays, 32 B, intact`));
    assert.match(full.out, /grid\s+\(6,\)\s+<f4\s+24 B\s+unit\s+sd-\S+\s+\d+/);
    assert.match(full.out, new RegExp(`mapped by: .*\\b${process.pid}\\b`));
    const short = ndshm('list', '-s');
    assert.match(short.out, new RegExp(`${name}\\s+ndshm\\s+2\\s+32 B\\s+yes`));
    const json = JSON.parse(ndshm('list', '--json').out) as { name: string; intact: boolean; mappedBy: { pid: number }[] }[];
    const entry = json.find((s) => s.name === name)!;
    assert.equal(entry.intact, true);
    assert.ok(entry.mappedBy.some((m) => m.pid === process.pid));
    releaseArrays(held);
  });

  it('info describes a store, an array and a raw segment; a missing name is one line and exit 1', () => {
    const name = uniqueName('inf').slice(0, 24);
    stores.push(name);
    arraysToShm(name, { a: [1, 2, 3] }, { attrs: { who: 'test' } });
    assert.match(ndshm('info', name).out, /store attrs: \{"who":"test"\}/);
    const array = SharedNDArray.zeros([2, 3], 'int16');
    assert.match(ndshm('info', array.name!).out, /ndshm array <i2 \(2, 3\), 12 B .* order C, removed with its owner/);
    array.release();
    const raw = Segment.create(uniqueName('raw'), 100);
    assert.match(ndshm('info', raw.name).out, /raw segment \(no ndshm header\), 100 B, mode 600/);
    raw.close();
    raw.unlink();
    const missing = ndshm('info', 'no-such-thing');
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'ndshm info: no store, array or segment named "no-such-thing"\n');
  });

  it('unlink removes a store or an array; bad or missing names are one line, no stack trace unless -v', () => {
    const name = uniqueName('unl').slice(0, 24);
    arraysToShm(name, { a: [1] }, { persistent: true });
    assert.equal(ndshm('unlink', name).code, 0);
    assert.equal(exists(`store.${name}`), false);
    const array = SharedNDArray.zeros(3, 'float64', { scope: null });
    assert.match(ndshm('unlink', array.name!).out, /removed segment/);
    assert.equal(exists(array.name!), false);
    const bad = ndshm('unlink', 'a/b');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^ndshm unlink: store name "a\/b" is not valid \("\/" is not allowed\): use 1 to 24 characters/);
    assert.equal(bad.err.split('\n').length, 2);
    const verbose = ndshm('unlink', 'nothing-here', '-v');
    assert.equal(verbose.code, 2, 'unknown flag -v on unlink');
  });

  it('gc --dry-run reports a broken store, gc removes it', () => {
    const name = uniqueName('gc').slice(0, 24);
    arraysToShm(name, { big: new Float64Array(1 << 18), small: [1] }, { persistent: true });
    const seg = listStores().find((s) => s.name === name)!.arrays[0]!.segment;
    unlinkSync(`/dev/shm/${seg}`);
    const dry = ndshm('gc', '--dry-run');
    assert.match(dry.out, new RegExp(`store\\.${name}\\s+\\S+ \\S+\\s+would remove\\s+store "${name}" lists 1 missing segment`));
    assert.ok(exists(`store.${name}`));
    assert.match(ndshm('gc').out, new RegExp(`store\\.${name}\\s+\\S+ \\S+\\s+removed`));
    assert.equal(exists(`store.${name}`), false);
  });

  it('doctor reports versions and /dev/shm', () => {
    const d = ndshm('doctor');
    assert.equal(d.code, 0);
    assert.match(d.out, /node\s+v\d+/);
    assert.match(d.out, /\/dev\/shm\s+[\d.]+ \w+, [\d.]+ \w+ free/);
  });
});
