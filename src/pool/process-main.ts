// A process pool's worker process (forked with an IPC channel, serialization 'advanced'): the
// runtime over process.send. It ends when its pool tells it to, and when the pool's process is gone
// (the channel closes).

import { sendError } from './errors.js';
import type { FromWorker, ToWorker, WorkerInfo } from './protocol.js';
import { startRuntime } from './runtime.js';

const info = JSON.parse(process.env['NDSHM_POOL_WORKER'] ?? 'null') as WorkerInfo;
delete process.env['NDSHM_POOL_WORKER'];
process.title = `ndshm-pool ${info.pool} #${info.index}`;

const post = (m: FromWorker, done?: () => void): void => {
  if (!process.connected) return done?.();
  try {
    process.send!(m, undefined, undefined, done === undefined ? undefined : () => done());
  } catch {
    done?.(); // the channel closed meanwhile: the pool is gone or has given up on this worker
  }
};

// An uncaught exception ends the worker, as it would any process; the pool first learns why.
const fatal = (err: unknown): void => {
  process.exitCode = 70;
  post({ t: 'fatal', error: sendError(err) }, () => process.exit(70));
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
process.on('disconnect', () => process.exit(0));

startRuntime(
  {
    // A value that cannot be serialized throws here, synchronously, and the runtime reports it.
    post: (m) => {
      if (process.connected) process.send!(m);
    },
    listen: (fn) => process.on('message', (m: ToWorker) => fn(m)),
  },
  info,
  (code) => process.exit(code),
);
