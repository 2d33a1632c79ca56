// The fallbacks: the sync page as a Node-API SharedArrayBuffer (Node 22+) or a plain ArrayBuffer
// instead of V8's SharedArrayBuffer, and the waiter thread polling instead of futex_waitv.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runSnippet } from '../helpers/child.js';

const nativeUrl = new URL('../../src/native.js', import.meta.url).href;

const exercise = `
  const native = await import(args[0]);
  const routes = native.syncInfo().routes;
  let m;
  try { m = nd.Mutex.create(); } catch (e) { send({ code: e.code, routes }); return; }
  const other = nd.Mutex.open(m.handle);
  m.lockSync();
  const waited = other.lock({ timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 20));
  m.unlock();
  const r = await waited;
  other.unlock();
  const c = nd.Counter.create();
  const reached = c.waitFor(3, { timeoutMs: 5000 });
  setTimeout(() => { c.increment(); c.increment(); c.increment(); }, 20);
  const got = await reached;
  const b = nd.Barrier.create(2);
  const b2 = nd.Barrier.open(b.handle);
  const first = b2.wait({ timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 20));
  const idx = [b.waitSync({ timeoutMs: 5000 }), await first];
  send({ lock: r, got, idx, waitv: native.syncInfo().waitv, routes });
  for (const x of [other, m, c, b2, b]) x.close();`;

describe('sync fallbacks', () => {
  const envs: Record<string, string>[] = [{ NDSHM_SYNC_BUFFER: 'napi' }, { NDSHM_SYNC_BUFFER: 'arraybuffer' }, { NDSHM_SYNC_BUFFER: 'v8', NDSHM_SYNC_POLL: '1' }];
  for (const env of envs) {
    it(`work the same with ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`, async () => {
      const r = await runSnippet(exercise, [nativeUrl], { env });
      assert.equal(r.code, 0, r.stderr);
      const m = r.messages[0] as { code?: string; routes: number; lock?: unknown; got?: number; idx?: number[]; waitv?: boolean };
      if (env['NDSHM_SYNC_BUFFER'] === 'napi' && (m.routes & (1 << 2)) === 0) {
        assert.equal(m.code, 'ENOTSUP', 'Node 20 has no node_api_create_external_sharedarraybuffer');
        return;
      }
      assert.deepEqual({ lock: m.lock, got: m.got, idx: m.idx }, { lock: { abandoned: false }, got: 3, idx: [1, 0] });
      if ('NDSHM_SYNC_POLL' in env) assert.equal(m.waitv, false);
    });
  }
});
