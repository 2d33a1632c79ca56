// ndshm push | pull | agent | remote, driven as a user would: output, exit codes, one-line errors,
// NDSHM_SERVER for --server.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import { arraysToShm, listStores, unlink } from '../../src/index.js';
import { clusterFixture, clusterSkip, float64Data, freshBucket } from './setup.js';
import { freePort } from './server.js';

const skip = clusterSkip(false);
const fx = clusterFixture(skip);

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function ndshm(env: Record<string, string>, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const oneLine = (text: string): boolean => text.trim().split('\n').length === 1;

describe('ndshm push, pull, agent, remote', { skip }, () => {
  it('--help and usage errors', () => {
    for (const c of ['push', 'pull', 'agent', 'remote']) {
      const h = ndshm({}, c, '--help');
      assert.equal(h.code, 0, c);
      assert.match(h.out, new RegExp(`usage: ndshm ${c}`));
    }
    const noServer = ndshm({ NDSHM_SERVER: '' }, 'push', 'x');
    assert.equal(noServer.code, 2);
    assert.equal(noServer.err, 'ndshm push: --server URL is needed (or the NDSHM_SERVER environment variable)\n');
    assert.equal(ndshm({}, 'remote', 'frob', '--server', 'nats://127.0.0.1:1').code, 2);
    assert.equal(ndshm({}, 'remote', 'info', '--server', 'nats://127.0.0.1:1').code, 2);
    assert.equal(ndshm({}, 'pull', 'x', '--timeout', 'soon', '--server', 'nats://127.0.0.1:1').code, 2);
  });

  it('an unreachable server is one line, exit 1', async () => {
    const port = await freePort();
    const r = ndshm({}, 'remote', 'list', '--server', `nats://127.0.0.1:${port}`);
    assert.equal(r.code, 1);
    assert.ok(oneLine(r.err), r.err);
    assert.match(r.err, /^ndshm remote: cannot connect to the NATS server at nats:\/\/127\.0\.0\.1:\d+: /);
  });

  it('push, list, info, pull, agent, rm, gc', async () => {
    const bucket = freshBucket('cli');
    const env = { NDSHM_SERVER: fx.server().url };
    const b = ['--bucket', bucket];
    arraysToShm('clisrc', { x: float64Data(3 << 20), y: { data: new Int16Array([1, 2]), attrs: { unit: 'm' } } }, { persistent: true });
    try {
      const missing = ndshm(env, 'push', 'nope', ...b);
      assert.equal(missing.code, 1);
      assert.equal(missing.err, 'ndshm push: no store named "nope"\n');

      const pushed = ndshm(env, 'push', 'clisrc', ...b);
      assert.equal(pushed.code, 0, pushed.err);
      assert.match(pushed.out, /^pushed store "clisrc" to 127\.0\.0\.1:\d+: 2 arrays, 24\.0 MiB in 2 objects, version [0-9a-f]{12} \(revision 1\)\n$/);
      assert.match(pushed.err, /pushing clisrc: 100% \(24\.0 MiB of 24\.0 MiB\)/);
      const again = ndshm(env, 'push', 'clisrc', ...b, '--no-progress');
      assert.equal(again.code, 1);
      assert.equal(again.err, 'ndshm push: a remote store named "clisrc" already exists (-o replaces it)\n');
      const over = ndshm(env, 'push', 'clisrc', ...b, '-o', '--no-progress');
      assert.equal(over.code, 0, over.err);
      assert.match(over.out, /\(revision 2\)/);

      const list = ndshm(env, 'remote', 'list', ...b);
      assert.equal(list.code, 0);
      assert.match(list.out, /^clisrc {2}version [0-9a-f]{12} \(revision 2\) {2}2 arrays, 24\.0 MiB, published .* by /);
      const json = JSON.parse(ndshm(env, 'remote', 'list', '--json', ...b).out) as { name: string; revision: number }[];
      assert.deepEqual(json.map((s) => [s.name, s.revision]), [['clisrc', 2]]);
      const info = ndshm(env, 'remote', 'info', 'clisrc', ...b);
      assert.equal(info.code, 0);
      assert.match(info.out, /y +\(2,\) +<i2/);
      assert.match(info.out, /clisrc\/[0-9a-f]{32}\/0 +24\.0 MiB/);
      assert.match(info.out, /no host reported it yet/);

      // this host has the source store: pull fetches nothing
      const current = ndshm(env, 'pull', 'clisrc', ...b);
      assert.equal(current.code, 0, current.err);
      assert.match(current.out, /^this host has the current store "clisrc"/);
      unlink('clisrc');
      const pulled = ndshm(env, 'pull', 'clisrc', ...b, '--host-id', 'cli-host');
      assert.equal(pulled.code, 0, pulled.err);
      assert.match(pulled.out, /^pulled store "clisrc": 2 arrays, 24\.0 MiB, version [0-9a-f]{12}, persistent \(ndshm unlink clisrc removes it\)\n$/);
      const local = listStores().find((s) => s.name === 'clisrc')!;
      assert.equal(local.persistent, true);
      assert.match(ndshm(env, 'remote', 'info', 'clisrc', ...b).out, /cli-host +ready +current/);

      // an agent: the copy is current; the remote store is removed, the agent unlinks the copy
      const agent = spawn(process.execPath, [cli, 'agent', ...b, '--stores', 'clisrc,other', '--host-id', 'cli-host'], { env: { ...process.env, ...env } });
      let out = '';
      agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const waitFor = async (re: RegExp): Promise<void> => {
        const start = Date.now();
        while (!re.test(out)) {
          if (Date.now() - start > 30_000) throw new Error(`agent output lacks ${re}:\n${out}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await waitFor(/clisrc: ready, version/);
      assert.match(out, /^agent for host cli-host watching clisrc, other on 127\.0\.0\.1:\d+\n/);
      const rm = ndshm(env, 'remote', 'rm', 'clisrc', ...b);
      assert.equal(rm.code, 0);
      assert.equal(rm.out, 'removed remote store "clisrc" (agents unlink their copies)\n');
      await waitFor(/clisrc: removed/);
      assert.ok(!listStores().some((s) => s.name === 'clisrc'));
      const exited = new Promise<number | null>((resolve) => agent.on('close', resolve));
      agent.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(out, /agent stopped\n$/);

      const rm2 = ndshm(env, 'remote', 'rm', 'clisrc', ...b);
      assert.equal(rm2.code, 1);
      assert.match(rm2.err, /^ndshm remote: no remote store named "clisrc" on /);
      const gc = ndshm(env, 'remote', 'gc', ...b, '--grace', '0');
      assert.equal(gc.code, 0);
      assert.match(gc.out, /^nothing to remove\n$|removed/);
    } finally {
      try {
        unlink('clisrc');
      } catch {
        // removed by the test
      }
    }
  });
});
