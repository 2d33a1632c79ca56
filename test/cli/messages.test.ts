// What people read when something goes wrong: one line naming what is wrong, never a stack trace
// without -v (even when the library itself cannot load), HDF5's own diagnostics kept off the
// terminal, sizes that say what they are; and `ndshm list` naming only the processes that map the
// very object (device and inode), not any "/dev/shm/<name>" of another mount namespace.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

import { Segment, SharedNDArray, runtimeInfo } from '../../src/index.js';
import { spawnChild, spawnSnippet } from '../helpers/child.js';
import { errorCode } from '../helpers/errors.js';
import { tinyShm } from '../helpers/namespace.js';
import { uniqueName } from '../helpers/shm.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(`${tmpdir()}/ndshm-msg-`);
after(() => rmSync(dir, { recursive: true, force: true }));

const ndshm = (args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('messages', () => {
  it('a damaged HDF5 file: one line naming the file and HDF5\'s reason, no HDF5-DIAG', () => {
    const file = `${dir}/damaged.h5`;
    writeFileSync(file, Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(4000, 0x5a)]));
    const r = ndshm(['load', uniqueName('dmg').slice(0, 20), file, '--no-progress']);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.err, /HDF5-DIAG/);
    assert.equal(r.err.split('\n').length, 2, r.err);
    assert.match(r.err, new RegExp(`^ndshm load: ${file}: HDF5 could not open it: \\S.*\\(H5\\w+\\)\\n$`));
  });

  it('no stack trace without -v even when the addon cannot load; with -v there is one', () => {
    const hook = `${dir}/no-addon.cjs`;
    writeFileSync(hook, `require('module')._extensions['.node'] = () => { throw new Error('simulated: no addon for this platform'); };`);
    const env = { NODE_OPTIONS: `--require ${hook}` };
    const r = ndshm(['list'], env);
    assert.equal(r.code, 1);
    assert.equal(r.err.split('\n').length, 2, r.err);
    assert.match(r.err, /^ndshm list: ndshm: no native addon loads on linux-/);
    const v = ndshm(['list', '-v'], env);
    assert.match(v.err, /\n\s+at /);
  });

  it('ETOOBIG for a segment larger than a mapping can be says how large it is', { skip: runtimeInfo().maxMappingLength > 2 ** 32 ? `Node ${process.version} maps more than 4 GiB` : false }, () => {
    const name = uniqueName('big');
    const s = Segment.create(name, 0);
    try {
      spawnSync('truncate', ['-s', '5G', `/dev/shm/${name}`]); // sparse: no memory is used
      try {
        Segment.open(name);
        assert.fail('opened');
      } catch (err) {
        assert.equal((err as { code: string }).code, 'ETOOBIG');
        assert.match((err as Error).message, /5\.00 GiB exceeds/);
      }
      assert.equal(errorCode(() => SharedNDArray.open(name)), 'ETOOBIG');
    } finally {
      s.close();
      s.unlink();
    }
  });

  it('ndshm list names only processes that map the same object, not a namesake in another /dev/shm', async (t) => {
    const shm = tinyShm('8m');
    if (typeof shm === 'string') return t.skip(shm);
    const a = SharedNDArray.zeros([4], 'float64', { name: uniqueName('lst') });
    const here = spawnSnippet(`const a = nd.SharedNDArray.open(args[0]); send({ pid: process.pid }); await next(); a.release();`, [a.name!]);
    // Another mount namespace with its own /dev/shm and an array of the same name, mapped there.
    const there = spawnChild('snippet.js', [`const a = nd.SharedNDArray.zeros([4], 'float64', { name: args[0] }); send({ pid: process.pid }); await next(); a.release();`, a.name!], {
      command: shm,
    });
    const [mine, theirs] = await Promise.all([here.message<{ pid: number }>(), there.message<{ pid: number }>()]);
    try {
      const r = ndshm(['info', a.name!]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`mapped by: .*\\b${mine.pid}\\b`));
      assert.doesNotMatch(r.out, new RegExp(`\\b${theirs.pid}\\b`), 'a process of another /dev/shm was named');
    } finally {
      here.send('end');
      there.send('end');
      await Promise.all([here.exited, there.exited]);
      a.release();
    }
  });
});
