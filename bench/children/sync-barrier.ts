// A member of the barrier scenario, forked with an IPC channel. First message: {op: 'barrier', handle,
// warmup, rounds, mode: 'sync' | 'async'} (ndshm's Barrier, waitSync or wait) or {op: 'ipc', warmup,
// rounds} (a barrier through the parent: send {arrive}, wait for {pass}). It says {ready}, waits for
// {go}, passes `warmup` rounds untimed (everyone in step and the code compiled), then times `rounds`
// rounds and says {us} per round.

import { Barrier, type SyncHandle } from '../../src/index.js';
import { next } from '../lib/parent.js';

interface Config {
  op: 'barrier' | 'ipc';
  handle?: SyncHandle;
  warmup: number;
  rounds: number;
  mode?: 'sync' | 'async';
}


const config = (await next()) as Config;
let round: () => Promise<unknown> | number;
let barrier: Barrier | undefined;
if (config.op === 'barrier') {
  const b = Barrier.open(config.handle!);
  barrier = b;
  round = config.mode === 'sync' ? () => b.waitSync() : () => b.wait();
} else {
  round = () => {
    process.send!({ arrive: true });
    return next();
  };
}
process.send!({ ready: true });
await next(); // {go}
for (let r = 0; r < config.warmup; r++) await round();
const start = process.hrtime.bigint();
for (let r = 0; r < config.rounds; r++) await round();
const us = Number(process.hrtime.bigint() - start) / 1000 / config.rounds;
process.send!({ us });
barrier?.close();
process.disconnect();
