// One pool worker as the pool sees it: a worker thread or a child process behind the same small
// interface. Its end is reported once, from its exit (an exit code or a signal; kill -9 included),
// never guessed from a timeout.

import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { receiveError } from './errors.js';
import { type FilledOptions, processEnv, processExecArgv } from './options.js';
import type { FromWorker, ToWorker, WorkerInfo } from './protocol.js';

export interface WorkerEvents {
  message(m: FromWorker): void;
  /** The worker ended: how (for messages) and, when known, the error that ended it. */
  exit(how: string, cause: unknown): void;
}

export interface WorkerHandle {
  /** The worker's process id (a thread's is this process's). */
  readonly pid: number;
  /** Throws if `m` cannot be cloned (nothing is sent then). */
  send(m: ToWorker): void;
  /** Keeps this process alive while the worker has work (or not). */
  ref(on: boolean): void;
  /** Ends it now (worker.terminate(), SIGKILL); its exit is reported as usual. */
  kill(): void;
}

const threadEntry = new URL('./thread-main.js', import.meta.url);
const processEntry = fileURLToPath(new URL('./process-main.js', import.meta.url));

export function spawnThread(info: WorkerInfo, o: FilledOptions, on: WorkerEvents): WorkerHandle {
  const w = new Worker(threadEntry, {
    workerData: info,
    ...(o.execArgv === undefined ? {} : { execArgv: [...o.execArgv] }),
    ...(o.resourceLimits === undefined ? {} : { resourceLimits: o.resourceLimits }),
    ...(Object.keys(o.env).length === 0 ? {} : { env: { ...process.env, ...o.env } }),
  });
  let cause: unknown;
  let ended = false;
  w.on('message', (m: FromWorker) => on.message(m));
  w.on('error', (err) => (cause = err));
  w.on('exit', (code) => {
    if (ended) return;
    ended = true;
    on.exit(cause === undefined ? `exit code ${code}` : 'an uncaught exception', cause);
  });
  return {
    pid: process.pid,
    send: (m) => w.postMessage(m),
    ref: (onOff) => (onOff ? w.ref() : w.unref()),
    kill: () => void w.terminate(),
  };
}

export function spawnProcess(info: WorkerInfo, o: FilledOptions, on: WorkerEvents): WorkerHandle {
  const env = processEnv(o);
  env['NDSHM_POOL_WORKER'] = JSON.stringify(info);
  let child: ChildProcess;
  let ended = false;
  let cause: unknown;
  const end = (how: string): void => {
    if (ended) return;
    ended = true;
    on.exit(how, cause);
  };
  child = fork(processEntry, [], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env,
    execArgv: processExecArgv(o),
  });
  child.on('message', (m: FromWorker) => {
    if (m.t === 'fatal') cause = receiveError(m.error);
    on.message(m);
  });
  // 'close', not 'exit': it comes once the IPC channel is drained, after the worker's last messages.
  child.on('close', (code, signal) => end(signal !== null ? `killed by ${signal}` : `exit code ${code}`));
  child.on('error', (err) => {
    cause ??= err;
    if (child.pid === undefined) end('it could not be started'); // no exit event follows a failed spawn
  });
  return {
    pid: child.pid ?? 0,
    send: (m) => {
      if (child.connected) child.send(m);
    },
    ref: (onOff) => {
      const channel = child.channel as { ref?(): void; unref?(): void } | undefined | null;
      if (onOff) {
        child.ref();
        channel?.ref?.();
      } else {
        child.unref();
        channel?.unref?.();
      }
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
