// The README's demo, driven as a user would: its answers, and a Ctrl-C in the middle.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

import { exists, waitFor } from './helpers/shm.js';

const demo = fileURLToPath(new URL('../examples/demo.js', import.meta.url));

function start(): { out: () => string; exited: Promise<number | null>; kill: (s: NodeJS.Signals) => void; pid: number } {
  const proc = spawn(process.execPath, [demo, '--size', '64MiB', '--workers', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
  return { out: () => text, exited: new Promise((r) => proc.on('close', r)), kill: (s) => proc.kill(s), pid: proc.pid! };
}

it('sums correctly in parallel, reports attach times and PSS, and cleans up', async () => {
  const d = start();
  assert.equal(await d.exited, 0, d.out());
  const out = d.out();
  const name = /in shared memory "([^"]+)"/.exec(out)?.[1];
  assert.ok(name, out);
  assert.match(out, /worker 2 \(pid \d+\): attached in \d+ µs/);
  assert.match(out, /x faster than 1 worker process; sums agree/);
  assert.match(out, /3 processes use [\d.]+ GiB in all; with a private copy each they would use [\d.]+ GiB/);
  assert.equal(exists(name), false);
});

it('leaves /dev/shm as it found it when interrupted with Ctrl-C', async () => {
  const d = start();
  await waitFor(() => /1 worker process:/.test(d.out()), 30_000, 'the demo to get going');
  const name = /in shared memory "([^"]+)"/.exec(d.out())![1]!;
  d.kill('SIGINT');
  assert.equal(await d.exited, 130);
  assert.match(d.out(), /interrupted: workers stopped, shared memory removed/);
  assert.equal(exists(name), false);
});
