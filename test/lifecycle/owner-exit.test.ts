import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Segment } from '../../src/index.js';
import { spawnSnippet } from '../helpers/child.js';
import { exists, uniqueName, waitFor, watchdogPids } from '../helpers/shm.js';

// The owner creates a segment, says so, and then ends the way each case says.
const owner = `
  const s = nd.Segment.create(args[0], 4096, { persistent: args[1] === 'persistent' });
  new Uint8Array(s.buffer)[0] = 1;
  send({ ready: true, pid: process.pid });
  const how = await next();
  if (how === 'return') return;
  if (how === 'throw') setTimeout(() => { throw new Error('uncaught on purpose'); });
  if (how === 'exit') process.exit(0);
  await new Promise(() => setInterval(() => {}, 1000)); // wait to be signalled
`;

type Ending = 'return' | 'throw' | 'exit' | 'SIGINT' | 'SIGTERM' | 'SIGKILL' | 'group SIGKILL';

async function endOwner(how: Ending, persistent: boolean): Promise<{ n: string; pid: number }> {
  const n = uniqueName('own');
  const child = spawnSnippet(owner, [n, persistent ? 'persistent' : ''], { detached: how === 'group SIGKILL' });
  const { pid } = await child.message<{ pid: number }>();
  assert.equal(exists(n), true);
  if (how === 'return' || how === 'throw' || how === 'exit') child.send(how);
  else if (how === 'group SIGKILL') process.kill(-pid, 'SIGKILL'); // the owner's whole process group
  else child.process.kill(how);
  await child.exited;
  return { n, pid };
}

describe('a non-persistent segment disappears when its owner ends', () => {
  for (const how of ['return', 'throw', 'exit', 'SIGINT', 'SIGTERM', 'SIGKILL', 'group SIGKILL'] as const) {
    it(`by ${how}, within 2 s`, async () => {
      const { n, pid } = await endOwner(how, false);
      const ms = await waitFor(() => !exists(n), 2000, `${n} to disappear after ${how}`);
      assert.ok(ms <= 2000);
      // ...and the owner's watchdog does not stay behind.
      await waitFor(() => watchdogPids(pid).length === 0, 2000, `the watchdog of ${pid} to exit`);
    });
  }
});

describe('a persistent segment stays after its owner ends', () => {
  for (const how of ['return', 'SIGKILL'] as const) {
    it(`by ${how}`, async () => {
      const { n } = await endOwner(how, true);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(exists(n), true);
      const s = Segment.open(n);
      assert.equal(new Uint8Array(s.buffer)[0], 1);
      s.close();
      Segment.unlink(n);
    });
  }
});

describe('ownership', () => {
  it('an owner that unlinked and re-created a name is not undone by its watchdog', async () => {
    const n = uniqueName('recreate');
    const child = spawnSnippet(
      `nd.Segment.create(args[0], 16); nd.Segment.unlink(args[0]); send({ ready: 1 }); await next();`,
      [n],
    );
    await child.message();
    const mine = Segment.create(n, 32, { persistent: true }); // same name, another object, another owner
    child.process.kill('SIGKILL');
    await child.exited;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(exists(n), true, 'the watchdog removed an object its owner did not create');
    mine.close();
    mine.unlink();
  });
});

describe('a newer object of the same name', () => {
  for (const how of ['exit', 'SIGKILL'] as const) {
    it(`is left alone when the first owner ends (${how}): removal checks the inode`, async () => {
      const n = uniqueName('again');
      const child = spawnSnippet(owner, [n, '']);
      const { pid } = await child.message<{ pid: number }>();
      // Somebody removes the owner's segment by name and makes a new one under it (raw: no header
      // whose owner tag could tell them apart; only the inode does).
      Segment.unlink(n);
      const mine = Segment.create(n, 64);
      if (how === 'exit') child.send('exit');
      else child.process.kill('SIGKILL');
      await child.exited;
      await waitFor(() => watchdogPids(pid).length === 0, 3000, 'the first owner\'s watchdog to finish');
      assert.ok(exists(n), 'the first owner\'s cleanup removed a newer object of the same name');
      mine.close();
      mine.unlink();
    });
  }
});
