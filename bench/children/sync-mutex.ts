// A process of the mutex scenario, forked with an IPC channel. Messages:
//   {op: 'contend', handle, segment, iterations}  says {ready}, spins until word 1 of the segment is set,
//       then does `lockSync(); x++; unlock()` (x: word 0, a plain read and write) and says {start, end}
//       (process.hrtime in ms: CLOCK_MONOTONIC, comparable across processes)
//   {op: 'handoff', handle, segment, sync}        for each {go}: says {waiting}, locks (lock() or
//       lockSync()), reads the time the parent stored (ns, i64 at byte 8) just before it unlocked, and
//       says {ns} (now minus that), after unlocking
//   {op: 'ping'}                                  says {op: 'pong'} (the IPC round trip baseline)
//   {op: 'exit'}

import { Mutex, Segment, type SyncHandle } from '../../src/index.js';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
let mutex: Mutex | undefined;
let segment: Segment | undefined;
let syncLock = false;

interface Message {
  op: string;
  handle?: SyncHandle;
  segment?: string;
  iterations?: number;
  sync?: boolean;
}

function contend(m: Mutex, words: Int32Array, iterations: number): void {
  while (Atomics.load(words, 1) === 0) {
    // all contenders start together
  }
  const start = nowMs();
  for (let i = 0; i < iterations; i++) {
    m.lockSync();
    words[0]!++;
    m.unlock();
  }
  process.send!({ start, end: nowMs() });
}

process.on('message', (msg: Message) => {
  void (async () => {
    switch (msg.op) {
      case 'contend': {
        const m = Mutex.open(msg.handle!);
        const s = Segment.open(msg.segment!);
        process.send!({ ready: true });
        contend(m, new Int32Array(s.buffer), msg.iterations!);
        m.close();
        s.close();
        break;
      }
      case 'handoff':
        mutex = Mutex.open(msg.handle!);
        segment = Segment.open(msg.segment!);
        syncLock = msg.sync === true;
        process.send!({ ready: true });
        break;
      case 'go': {
        process.send!({ waiting: true });
        if (syncLock) mutex!.lockSync();
        else await mutex!.lock();
        const t1 = process.hrtime.bigint();
        const t0 = new BigInt64Array(segment!.buffer, 8, 1)[0]!;
        mutex!.unlock();
        process.send!({ ns: Number(t1 - t0) });
        break;
      }
      case 'ping':
        process.send!({ op: 'pong' });
        break;
      case 'exit':
        mutex?.close();
        segment?.close();
        process.disconnect();
        break;
    }
  })();
});
process.send!({ started: true });
