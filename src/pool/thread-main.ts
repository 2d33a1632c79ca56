// A thread pool's worker thread: the runtime over its parentPort.

import { parentPort, workerData } from 'node:worker_threads';

import type { ToWorker, WorkerInfo } from './protocol.js';
import { startRuntime } from './runtime.js';

const port = parentPort!;
startRuntime(
  {
    post: (m) => port.postMessage(m),
    listen: (fn) => port.on('message', (m: ToWorker) => fn(m)),
  },
  workerData as WorkerInfo,
  (code) => process.exit(code), // in a worker thread, ends the thread
);
