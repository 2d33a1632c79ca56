// Host groups of real processes: joining by name and through `ndshm run`, shared arrays that every
// member sees, memory tracked once per host, members killed mid-computation, late and missing members.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import { HostGroup, Segment } from '../../src/index.js';
import { type Child, spawnChild, spawnSnippet } from '../helpers/child.js';
import { exists, shmNames, waitFor, watchdogPids } from '../helpers/shm.js';
import { groupName, groupSegments, memberSnippet } from './util.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Report {
  rank: number;
  size: number;
  name: string;
  shared: boolean;
  array: string | null;
  isShared: boolean;
  ok: boolean;
  bc: { handle: unknown; note: string };
  all: { rank: number; pid: number }[];
  afterShared: { process: number; host: number; hostPeak: number };
  afterPrivate: { process: number; host: number };
  error?: string;
}

async function collect(children: Child[]): Promise<{ reports: Report[]; released: boolean[] }> {
  const pairs = await Promise.all(
    children.map(async (c) => {
      const r = await c.message<Report>();
      if (r.error !== undefined) throw new Error(`a member failed: ${r.error}`);
      const d = await c.message<{ done: boolean; released: boolean; error?: string }>();
      if (d.error !== undefined) throw new Error(`a member failed: ${d.error}`);
      return [r, d.released] as const;
    }),
  );
  return { reports: pairs.map((p) => p[0]), released: pairs.map((p) => p[1]) };
}

function checkReports(reports: Report[], n: number): void {
  assert.deepEqual(reports.map((r) => r.rank).sort(), Array.from({ length: n }, (_, i) => i), 'ranks 0..n-1, each once');
  const nbytes = n * 1000 * 8;
  for (const r of reports) {
    assert.equal(r.size, n);
    assert.equal(r.ok, true, `rank ${r.rank} saw every member's block after the barrier`);
    assert.equal(r.shared, n > 1, 'shared for a group of 2 or more, private for 1');
    assert.equal(r.isShared, n > 1);
    assert.equal(r.bc.note, 'from the leader');
    assert.deepEqual(r.all.map((x) => x.rank), Array.from({ length: n }, (_, i) => i), 'gather in rank order');
    // The shared array once per host; each process its share (the leader the remainder).
    assert.equal(r.afterShared.host, nbytes, 'host total after the shared array');
    assert.equal(r.afterShared.process, Math.trunc(nbytes / n) + (r.rank === 0 ? nbytes % n : 0));
    assert.equal(r.afterPrivate.host, nbytes + n * 1000, 'host total after each member tracked 1000 private bytes');
    assert.equal(r.afterPrivate.process, r.afterShared.process + 1000);
  }
  const names = new Set(reports.map((r) => r.array));
  assert.equal(names.size, 1, 'one array for the whole group');
  if (n > 1) assert.deepEqual(reports.map((r) => r.bc.handle === null), reports.map(() => false));
  assert.equal(new Set(reports.flatMap((r) => r.all.map((x) => x.pid))).size, n, 'n distinct processes');
}

describe('host groups of processes', () => {
  for (const n of [1, 2, 4]) {
    it(`${n} process${n === 1 ? '' : 'es'} joining by name: one shared array (private for 1), writes seen after a barrier, cleanup collective and idempotent`, async () => {
      const name = groupName(`j${n}`);
      const before = new Set(shmNames());
      const children = Array.from({ length: n }, (_, i) => spawnSnippet(memberSnippet, [name, String(n), n === 4 ? String(3 - i) : ''], { timeoutMs: 60_000 }));
      const { reports, released } = await collect(children);
      checkReports(reports, n);
      assert.deepEqual(released, reports.map(() => n > 1), 'cleanupSharedNdarray released every member\'s shared array (null: nothing to do)');
      for (const c of children) assert.equal((await c.exited).code, 0);
      const array = reports[0]!.array;
      if (array !== null) assert.equal(exists(array), false, 'the array is gone');
      assert.deepEqual(shmNames().filter((s) => !before.has(s)), [], 'nothing left in /dev/shm');
    });
  }

  for (const n of [1, 2, 4]) {
    it(`ndshm run -n ${n}: members join with HostGroup.fromEnv()`, async () => {
      const before = new Set(shmNames());
      const launcher = spawnChild('snippet.js', [memberSnippet, 'env', String(n)], { command: [process.execPath, cli, 'run', '-n', String(n), '--'], timeoutMs: 60_000 });
      const reports: Report[] = [];
      for (let k = 0; k < 2 * n; k++) {
        const m = await launcher.message<Report & { done?: boolean }>();
        if (!m.done) reports.push(m);
      }
      const exit = await launcher.exited;
      assert.equal(exit.code, 0, exit.stderr);
      checkReports(reports, n);
      assert.equal(new Set(reports.map((r) => r.name)).size, 1);
      assert.match(reports[0]!.name, n === 1 ? /^(run-|single-)/ : /^run-/);
      assert.deepEqual(shmNames().filter((s) => !before.has(s)), []);
    });
  }

  it('ndshm run: a failing member stops the others; its exit status is the run\'s; --name and --tag-output', async () => {
    const name = groupName('fail');
    const code = `
      const g = await nd.HostGroup.fromEnv();
      send({ rank: g.rank, group: g.name });
      await g.barrier();
      if (g.rank === 1) process.exit(7);
      try { await g.barrier(); send({ passed: true }); } catch (e) { send({ code: e.code }); }
      await new Promise((r) => setTimeout(r, 60000));`;
    const launcher = spawnChild('snippet.js', [code], { command: [process.execPath, cli, 'run', '-n', '3', '--name', name, '--tag-output', '--grace', '500', '--'], timeoutMs: 30_000 });
    const exit = await launcher.exited;
    assert.equal(exit.code, 7, exit.stderr);
    assert.match(exit.stderr, /rank 1 \(pid \d+\) exited with code 7; stopping the other 2 processes/);
    const lines = (await Promise.all([0, 1, 2].map(() => launcher.message<{ text: string }>((m) => typeof m.text === 'string' && m.text.includes('"group"'))))).map((m) => m.text);
    for (const l of lines) assert.match(l, new RegExp(`^\\[\\d\\] \\{"rank":\\d,"group":"${name}"\\}$`));
  });

  it('ndshm run: usage errors (exit 2), a missing command (127)', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = (...a: string[]) => spawnSync(process.execPath, [cli, 'run', ...a], { encoding: 'utf8' });
    assert.equal(run('--', 'true').status, 2);
    assert.equal(run('-n', '0', '--', 'true').status, 2);
    assert.equal(run('-n', '2').status, 2);
    assert.equal(run('-n', '2', '--bogus', '--', 'true').status, 2);
    assert.equal(run('-n', '2', '--name', 'a/b', '--', 'true').status, 2);
    assert.match(run('--help').stdout, /usage: ndshm run -n N/);
    assert.equal(run('-n', '2', '--', 'true').status, 0);
    assert.equal(run('-n2', 'true').status, 0);
    const missing = run('-n', '2', '--', `no-such-command-${process.pid}`);
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /cannot start/);
  });

  it('a member killed with SIGKILL mid-computation: the others get EPEERDIED within a bounded time; the array is gone once all have ended', async () => {
    const name = groupName('kill');
    const before = new Set(shmNames());
    const code = `
      const g = await nd.HostGroup.join(args[0], { size: 4, rank: Number(args[1]), timeout: 30000 });
      const ra = new nd.ResourceAllocation({ hostGroup: g });
      const [m, shm] = await nd.createSharedNdarray(ra, [4, 1 << 16], 'float64');
      nd.LocalNdarray.forRank(m, g.rank, g.size).array.fill(1);
      send({ ready: true, array: m.name });
      await next();
      const t = performance.now();
      try { await g.barrier(); send({ passed: true }); }
      catch (e) { send({ code: e.code, message: e.message, ms: performance.now() - t }); }
      await nd.cleanupSharedNdarray(shm);
      send({ cleaned: shm.released });`;
    const children = [0, 1, 2, 3].map((r) => spawnSnippet(code, [name, String(r)], { timeoutMs: 60_000 }));
    const ready = await Promise.all(children.map((c) => c.message<{ array: string }>()));
    const array = ready[0]!.array;
    assert.ok(exists(array));
    const victim = children[2]!;
    for (const c of children) if (c !== victim) c.send('go');
    await new Promise((r) => setTimeout(r, 200)); // the others wait in barrier()
    const killedAt = performance.now();
    victim.process.kill('SIGKILL');
    for (const c of children) {
      if (c === victim) continue;
      const r = await c.message<{ code: string; message: string; ms: number }>();
      assert.equal(r.code, 'EPEERDIED', r.message);
      assert.match(r.message, new RegExp(`rank 2 \\(pid ${victim.process.pid}\\) ended without closing the group`));
      assert.ok(performance.now() - killedAt < 2000, `EPEERDIED after ${(performance.now() - killedAt).toFixed(0)} ms`);
      assert.deepEqual(await c.message(), { cleaned: true }, 'cleanup after a death releases without waiting');
    }
    for (const c of children) await c.exited;
    await waitFor(() => !exists(array), 3000, 'the array to be removed');
    await waitFor(() => shmNames().filter((s) => !before.has(s)).length === 0, 8000, 'every segment of the group to be removed');
  });

  it('the leader killed: the others get EPEERDIED; its array is removed at once (the others keep their mappings)', async () => {
    const name = groupName('lead');
    const before = new Set(shmNames());
    const code = `
      const g = await nd.HostGroup.join(args[0], { size: 3, rank: Number(args[1]), timeout: 30000 });
      const [m, shm] = await nd.createSharedNdarray(new nd.ResourceAllocation({ hostGroup: g }), [3, 100], 'int32');
      m.set(g.rank, 0, 10 + g.rank);
      send({ ready: true, array: m.name });
      await next();
      try { await g.gather(g.rank); send({ passed: true }); }
      catch (e) { send({ code: e.code, message: e.message, still: m.get(1, 0) + m.get(2, 0) }); }
      await nd.cleanupSharedNdarray(shm);
      await g.close();`;
    const children = [0, 1, 2].map((r) => spawnSnippet(code, [name, String(r)], { timeoutMs: 60_000 }));
    const ready = await Promise.all(children.map((c) => c.message<{ array: string }>()));
    children[1]!.send('go');
    children[2]!.send('go');
    await new Promise((r) => setTimeout(r, 150));
    children[0]!.process.kill('SIGKILL');
    for (const c of children.slice(1)) {
      const r = await c.message<{ code: string; message: string; still: number }>();
      assert.equal(r.code, 'EPEERDIED', r.message);
      assert.match(r.message, /rank 0/);
      assert.equal(r.still, 23, 'the survivors\' mappings stay valid');
    }
    await waitFor(() => !exists(ready[0]!.array), 3000, 'the leader\'s watchdog to remove the array');
    for (const c of children) await c.exited;
    await waitFor(() => shmNames().filter((s) => !before.has(s)).length === 0, 8000, 'every segment of the group to be removed');
  });

  it('a missing member: every member present gets ETIMEDOUT; a late one times out too', async () => {
    const name = groupName('miss');
    const code = `
      const t = performance.now();
      try { await nd.HostGroup.join(args[0], { size: 3, timeout: Number(args[1]) }); send({ joined: true }); }
      catch (e) { send({ code: e.code, message: e.message, ms: performance.now() - t }); }`;
    const present = [spawnSnippet(code, [name, '600']), spawnSnippet(code, [name, '3000'])];
    const results = await Promise.all(present.map((c) => c.message<{ code: string; message: string; ms: number }>()));
    for (const r of results) assert.equal(r.code, 'ETIMEDOUT', r.message);
    assert.match(results[0]!.message, /only 2 of 3 members joined within 600 ms/);
    assert.match(results[1]!.message, /gave up waiting for the group to form/);
    assert.ok(results[0]!.ms >= 550 && results[1]!.ms < 2900, 'the first timeout ends the wait of every member');
    // Late: arrives after the others gave up; nobody completes its group either.
    const late = await spawnSnippet(code, [name, '300']).message<{ code: string; ms: number }>();
    assert.equal(late.code, 'ETIMEDOUT');
    assert.deepEqual(groupSegments().filter((s) => s.includes(name)), []);
  });

  it('a stale group segment (its creator and its watchdog killed) is taken over by the next members', async () => {
    const name = groupName('stale');
    const before = new Set(shmNames());
    const child = spawnSnippet(`nd.HostGroup.join(args[0], { size: 2, timeout: 60000 }).catch(() => {}); send({ ready: true }); await next();`, [name]);
    await child.message();
    assert.ok(exists(`grp.${name}`));
    const dogs = watchdogPids(child.process.pid);
    for (const d of dogs) process.kill(d, 'SIGKILL');
    child.process.kill('SIGKILL');
    await child.exited;
    await waitFor(() => dogs.every((d) => watchdogPids().indexOf(d) < 0), 3000, 'the watchdog to die');
    const left = shmNames().filter((s) => !before.has(s));
    assert.ok(left.includes(`grp.${name}`), 'the stale segment is still there');
    const [a, b] = await Promise.all([HostGroup.join(name, { size: 2, timeout: 5000 }), HostGroup.join(name, { size: 2, timeout: 5000 })]);
    await Promise.all([a.barrier(), b.barrier()]);
    await a.close();
    await b.close();
    for (const s of left) if (s !== `grp.${name}`) Segment.unlink(s); // the dead creator's barrier: nobody's to remove
    assert.deepEqual(shmNames().filter((s) => !before.has(s)), []);
  });

  it('worker threads and processes mixed in one group; a terminated worker member is EPEERDIED for the others', async () => {
    const { startWorker } = await import('../sync/util.js');
    const name = groupName('mix');
    const w = startWorker(
      `const g = await nd.HostGroup.join(data, { size: 3, rank: 1, timeout: 30000 });
       const v = await g.gather('worker');
       post({ v });
       await g.barrier();
       for (;;) {}`,
      name,
    );
    const child = spawnSnippet(`const g = await nd.HostGroup.join(args[0], { size: 3, rank: 2, timeout: 30000 });
      const v = await g.gather('process');
      send({ v });
      await g.barrier();
      try { await g.barrier(); } catch (e) { send({ code: e.code, message: e.message }); }
      await g.close();`, [name]);
    const g = await HostGroup.join(name, { size: 3, rank: 0, timeout: 30_000 });
    assert.deepEqual(await g.gather('main'), ['main', 'worker', 'process']);
    assert.deepEqual(await w.message(), { v: ['main', 'worker', 'process'] });
    assert.deepEqual(await child.message(), { v: ['main', 'worker', 'process'] });
    await g.barrier();
    const pending = g.barrier();
    await new Promise((r) => setTimeout(r, 100));
    await w.worker.terminate();
    await assert.rejects(pending, (e: Error & { code?: string }) => e.code === 'EPEERDIED' && /rank 1/.test(e.message));
    const r = await child.message<{ code: string }>();
    assert.equal(r.code, 'EPEERDIED');
    await g.close();
    assert.equal((await child.exited).code, 0);
  });
});

