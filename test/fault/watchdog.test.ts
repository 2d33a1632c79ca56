// The cleanup watchdog is a helper, not a dependency: killed, its owner keeps working and a new one
// takes over (it is handed everything owned); stopped (SIGSTOP), its owner never blocks, and after a
// second a new one takes over and the stuck one is killed. Either way a later kill -9 of the owner
// still removes everything it owned, and releasing always removes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { spawnSnippet } from '../helpers/child.js';
import { exists, waitFor, watchdogPids } from '../helpers/shm.js';

// A child that owns arrays and obeys commands: "make N", "release", "exit".
const owner = `
  const kept = [];
  send({ pid: process.pid, made: [] });
  for (;;) {
    const line = await next();
    if (line === '' || line === 'exit') return;
    const [cmd, n] = line.split(' ');
    if (cmd === 'make') {
      const t0 = Date.now();
      const made = [];
      for (let i = 0; i < Number(n); i++) {
        const a = nd.SharedNDArray.zeros([4]);
        made.push(a.name);
        kept.push(a);
      }
      send({ made, ms: Date.now() - t0 });
    } else if (cmd === 'churn') {
      const t0 = Date.now();
      for (let i = 0; i < Number(n); i++) nd.SharedNDArray.zeros([1]).release();
      send({ churned: Number(n), ms: Date.now() - t0 });
    } else if (cmd === 'release') {
      const a = kept.pop();
      a.release();
      send({ released: a.name, gone: !(await import('node:fs')).existsSync('/dev/shm/' + a.name) });
    }
  }`;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('watchdog failure', () => {
  it('killed: the owner goes on, a new watchdog gets everything, kill -9 of the owner still cleans up', async () => {
    const child = spawnSnippet(owner);
    const { pid } = await child.message<{ pid: number }>();
    child.send('make 3');
    const first = await child.message<{ made: string[] }>();
    const [dog] = await waitForDogs(pid, 1);
    process.kill(dog!, 'SIGKILL');
    await waitFor(() => !alive(dog!), 2000, 'the watchdog to die');
    child.send('make 3'); // the next create meets EPIPE: a new watchdog is started with the whole state
    const second = await child.message<{ made: string[]; error?: string }>();
    assert.equal(second.error, undefined);
    child.send('release');
    const released = await child.message<{ gone: boolean }>();
    assert.equal(released.gone, true, 'release did not remove an owned array');
    const [replacement] = await waitForDogs(pid, 1);
    assert.notEqual(replacement, dog);
    child.process.kill('SIGKILL');
    const all = [...first.made, ...second.made];
    await waitFor(() => all.every((n) => !exists(n)), 3000, 'the replacement watchdog to remove every array, old and new');
    await waitFor(() => watchdogPids(pid).length === 0, 3000, 'the watchdog to exit');
  });

  it('stopped: the owner never blocks, a new watchdog takes over, the stuck one is killed', async () => {
    const child = spawnSnippet(owner);
    const { pid } = await child.message<{ pid: number }>();
    child.send('make 2');
    const first = await child.message<{ made: string[] }>();
    const [dog] = await waitForDogs(pid, 1);
    process.kill(dog!, 'SIGSTOP');
    try {
      // Each create and release is a line to the watchdog: 20,000 of them fill its pipe many times.
      child.send('churn 10000');
      const churn = await child.message<{ churned: number; ms: number }>();
      assert.equal(churn.churned, 10000);
      child.send('make 2');
      const second = await child.message<{ made: string[] }>();
      await waitFor(() => !alive(dog!) || isZombie(dog!), 3000, 'the stuck watchdog to be killed');
      const [replacement] = await waitForDogs(pid, 1);
      assert.notEqual(replacement, dog);
      child.process.kill('SIGKILL');
      const all = [...first.made, ...second.made];
      await waitFor(() => all.every((n) => !exists(n)), 3000, 'the replacement watchdog to remove every array');
    } finally {
      try {
        process.kill(dog!, 'SIGCONT');
      } catch {
        // killed, as it should be
      }
      child.process.kill('SIGKILL');
    }
    await waitFor(() => watchdogPids(pid).length === 0, 3000, 'the watchdog to exit');
  });
});

function isZombie(pid: number): boolean {
  return !watchdogPids().includes(pid);
}

async function waitForDogs(owner: number, n: number): Promise<number[]> {
  let pids: number[] = [];
  await waitFor(() => (pids = watchdogPids(owner)).length === n, 3000, `${n} watchdog(s) of ${owner}`);
  return pids;
}
