// A group's rendezvous segment is untrusted like any segment: something else under its name, or a
// group segment with a forged body, gives an error, never a crash or a hang.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { HostGroup, NdshmError, SharedNDArray, Segment } from '../../src/index.js';
import { SyncBlock } from '../../src/sync/block.js';
import * as syncLayout from '../../src/sync/layout.js';
import { body, geometry } from '../../src/group/layout.js';
import { groupName } from './util.js';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof NdshmError ? e.code : `not an NdshmError: ${String(e)}`;
  }
  return 'no error';
}

it('another object under the group\'s name is EEXIST; forged group bodies are EBADHEADER or EINVAL', async () => {
  let name = groupName('h');
  const array = SharedNDArray.zeros([4], 'float64', { name: `grp.${name}` });
  assert.equal(await code(HostGroup.join(name, { size: 2, timeout: 1000 })), 'EEXIST');
  array.release();

  name = groupName('h');
  const raw = Segment.create(`grp.${name}`, 4096);
  new Uint8Array(raw.buffer).set(Buffer.from('NDSHMXXX'));
  assert.equal(await code(HostGroup.join(name, { size: 2, timeout: 1000 })), 'EEXIST');
  raw.close();
  raw.unlink();

  const forge = (size: number, edit: (v: DataView) => void): { name: string; block: SyncBlock } => {
    const n = groupName('f');
    const block = SyncBlock.create(syncLayout.Kind.Group, geometry(size).bodyLength, { name: `grp.${n}` }, -1, (b) => {
      const v = new DataView(b.buffer);
      v.setUint32(body.size, size, true);
      v.setUint32(body.recordSize, 16384, true);
      v.setUint32(body.broadcastSize, 65536, true);
      v.setUint32(body.barrierNameLength, 5, true);
      v.setBigUint64(body.barrierId, 1n, true);
      new Uint8Array(b.buffer, body.barrierName, 5).set(Buffer.from('nds-x'));
      b.ops.initSlots(body.slots, size);
      edit(v);
    });
    return { name: n, block };
  };
  const cases: [string, number, (v: DataView) => void, string][] = [
    ['size 0', 2, (v) => v.setUint32(body.size, 0, true), 'EBADHEADER'],
    ['size larger than the body', 2, (v) => v.setUint32(body.size, 900, true), 'EBADHEADER'],
    ['another record size', 2, (v) => v.setUint32(body.recordSize, 8, true), 'EBADHEADER'],
    ['barrier name length 0', 2, (v) => v.setUint32(body.barrierNameLength, 0, true), 'EBADHEADER'],
    ['barrier name with a slash', 2, (v) => new Uint8Array(v.buffer, body.barrierName, 5).set(Buffer.from('../xx')), 'EBADHEADER'],
    ['barrier id 0', 2, (v) => v.setBigUint64(body.barrierId, 0n, true), 'EBADHEADER'],
    ['a size other than the member asked', 3, () => undefined, 'EINVAL'],
    ['slots that hold no mutex', 2, (v) => [0, 64].forEach((at) => new Uint8Array(v.buffer, body.slots + at, 40).fill(0xff)), 'EBADHEADER'],
    ['slots in no known state (every rank looks taken)', 2, (v) => new Uint8Array(v.buffer, body.slots, 128).fill(0xff), 'ETIMEDOUT'],
  ];
  for (const [what, size, edit, expected] of cases) {
    const { name: n, block } = forge(size, edit);
    try {
      assert.equal(await code(HostGroup.join(n, { size: 2, timeout: 1000 })), expected, what);
    } finally {
      block.release();
    }
  }
  // A barrier that does not exist: the joiner retries until its timeout (the creator is alive).
  const { name: n, block } = forge(2, () => undefined);
  try {
    assert.equal(await code(HostGroup.join(n, { size: 2, timeout: 200 })), 'ETIMEDOUT');
  } finally {
    block.release();
  }
});
