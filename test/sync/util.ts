// Helpers of the sync tests: worker threads running an inline body, and timing.

import { Worker } from 'node:worker_threads';

import { NdshmError } from '../../src/index.js';

const indexUrl = new URL('../../src/index.js', import.meta.url).href;

export interface TestWorker {
  readonly worker: Worker;
  /** The next message the worker posts (rejects if it fails or exits first). */
  message<T = Record<string, unknown>>(): Promise<T>;
  post(value: unknown): void;
  readonly exited: Promise<number>;
}

/**
 * A worker thread that runs `body` as an async function with `nd` (the library), `post(message)`,
 * `next()` (the next message from the test) and `data` (workerData) in scope.
 */
export function startWorker(body: string, data: unknown = null): TestWorker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const inbox = []; const waiting = [];
    parentPort.on('message', (m) => { const w = waiting.shift(); if (w) w(m); else inbox.push(m); });
    const next = () => inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((r) => waiting.push(r));
    const post = (m) => parentPort.postMessage(m);
    import(${JSON.stringify(indexUrl)}).then(async (nd) => {
      try { await (async (nd, post, next, data) => { ${body} })(nd, post, next, workerData); }
      catch (err) { post({ error: err.message, code: err.code }); }
      parentPort.unref();
    });`;
  const worker = new Worker(code, { eval: true, workerData: data });
  const queue: unknown[] = [];
  const waiters: { resolve: (m: unknown) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  worker.on('message', (m) => {
    const w = waiters.shift();
    if (w) w.resolve(m);
    else queue.push(m);
  });
  const fail = (err: Error): void => {
    failure ??= err;
    for (const w of waiters.splice(0)) w.reject(err);
  };
  worker.on('error', fail);
  const exited = new Promise<number>((resolve) =>
    worker.on('exit', (code) => {
      fail(new Error(`worker exited (code ${code}) before the expected message`));
      resolve(code);
    }),
  );
  return {
    worker,
    message<T>() {
      if (queue.length > 0) return Promise.resolve(queue.shift() as T);
      if (failure) return Promise.reject(failure);
      return new Promise<T>((resolve, reject) => waiters.push({ resolve: resolve as (m: unknown) => void, reject }));
    },
    post(value: unknown) {
      worker.postMessage(value);
    },
    exited,
  };
}

/** The code of the error a promise rejects with ('no error' if it resolves). */
export async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof NdshmError)) throw err;
    return err.code;
  }
  return 'no error';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
