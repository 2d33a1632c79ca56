// An ArrayBuffer's memory can move to another ArrayBuffer without ndshm being asked:
// ArrayBuffer.prototype.transfer(), a web-stream BYOB read, a postMessage transfer list. Closing the
// segment afterwards must not unmap memory a moved buffer still reaches (with plain Node-API buffers
// that is a segfault on Node 22 and 24), and the mapping must go once nothing reaches it.
// Runs in a child process, so that a crash shows as a signal rather than ending the test runner.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { runSnippet } from '../helpers/child.js';
import { uniqueName } from '../helpers/shm.js';

it('a buffer moved away from a segment keeps valid memory after close, and is unmapped once collected', async () => {
  const r = await runSnippet(
    `const v8 = await import('node:v8');
     const vm = await import('node:vm');
     const { Worker } = await import('node:worker_threads');
     const { readFileSync } = await import('node:fs');
     v8.setFlagsFromString('--expose-gc');
     const gc = vm.runInNewContext('gc');
     const name = args[0];
     const maps = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('/dev/shm/' + name)).length;
     const owner = nd.Segment.create(name, 1 << 20);
     new Uint8Array(owner.buffer)[0] = 9;
     const out = {};
     async function moved() {
       if (ArrayBuffer.prototype.transfer) {
         const s = nd.Segment.open(name);
         const t = s.buffer.transfer();
         s.close();
         out.transfer = new Uint8Array(t)[0];
       }
       const s2 = nd.Segment.open(name);
       const rs = new ReadableStream({ type: 'bytes', pull(c) { c.byobRequest.view[1] = 7; c.byobRequest.respond(2); } });
       const read = await rs.getReader({ mode: 'byob' }).read(new Uint8Array(s2.buffer, 0, 16));
       s2.close();
       out.byob = [read.value[0], read.value[1]];
       const s3 = nd.Segment.open(name);
       const w = new Worker('require("worker_threads").parentPort.once("message", (b) => require("worker_threads").parentPort.postMessage(new Uint8Array(b)[0]))', { eval: true });
       try { w.postMessage(s3.buffer, [s3.buffer]); out.worker = 'moved'; } catch (e) { w.postMessage(new ArrayBuffer(1)); out.worker = 'refused'; }
       s3.close();
       out.workerRead = await new Promise((r) => w.once('message', r));
       await w.terminate();
       out.mappedWhileHeld = maps();
     }
     await moved();
     for (let i = 0; i < 6; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); }
     nd.Segment.open(name).close(); // ndshm unmaps what nothing reaches any more on its next call
     out.mappedAfter = maps();
     owner.close();
     owner.unlink();
     send(out);`,
    [uniqueName('moved')],
  );
  assert.equal(r.signal, null, `the child died of ${r.signal}`);
  assert.equal(r.code, 0, r.stderr);
  const out = r.messages[0] as { transfer?: number; byob: number[]; worker: string; workerRead: number; mappedWhileHeld: number; mappedAfter: number };
  if ('transfer' in ArrayBuffer.prototype) assert.equal(out.transfer, 9, 'transfer(): the moved buffer reads the shared bytes after close');
  assert.deepEqual(out.byob, [9, 7], 'BYOB: the result reads the shared bytes after close');
  if (out.worker === 'moved') assert.equal(out.workerRead, 9);
  assert.ok(out.mappedWhileHeld > 1, 'the moved buffers kept their memory mapped after close');
  assert.ok(out.mappedAfter <= 1, `${out.mappedAfter} mappings left after the moved buffers were collected (the owner's is 1)`);
});
