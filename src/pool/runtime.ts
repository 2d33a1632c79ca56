// The inside of a pool worker (a worker thread or a child process): it runs the units it is sent,
// one at a time, in order: imports the task's module (once), unpacks the arguments over the
// thread's attach cache, calls the export, packs the result (handing the arrays it created to the
// caller) and sends it back. A task's error is sent as data; it never ends the worker. Units that end
// together (synchronous tasks run back to back) go back in one message; a task that awaits sends what
// is ready first.

import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

import type { Block } from '../ndarray/block.js';
import { disown } from '../segment/lifetime.js';
import { attachCache } from './attach-cache.js';
import { cannotSend, packResult, unpackArgs } from './codec.js';
import { sendError } from './errors.js';
import type { FromWorker, RunMessage, ToWorker, UnitMessage, UnitResult, WorkerInfo } from './protocol.js';
import { type TaskFn, isThenable, loadTask } from './task.js';

export interface Port {
  post(message: FromWorker): void;
  listen(onMessage: (message: ToWorker) => void): void;
}

let current: WorkerInfo | undefined;

/**
 * The pool worker this thread is, or undefined outside pool workers: its pool's id, its index (0 to
 * size − 1; a replacement takes the index of the worker it replaces) and the pool's size. The hook
 * for host groups: a pool and its workers form a group, rank = index.
 */
export function currentWorker(): WorkerInfo | undefined {
  return current;
}

interface Outgoing {
  readonly result: UnitResult;
  /** Mappings to release once the result is on its way (arrays handed to the caller). */
  readonly release: Set<Block>;
}

export function startRuntime(port: Port, info: WorkerInfo, end: (code: number) => void): void {
  current = info;
  const defs = new Map<number, { module: string; name: string }>();
  const fns = new Map<number, TaskFn>();
  const queue: UnitMessage[] = [];
  let outbox: Outgoing[] = [];
  let running = false;
  let exiting = false;

  const shutdown = (): void => {
    try {
      attachCache.clear();
    } finally {
      end(0);
    }
  };

  // A result that cannot be cloned (a function in it, ...) reaches the caller as the task's error, and
  // the arrays offered with it are taken back and removed.
  const unsendable = (o: Outgoing, err: unknown): UnitResult => {
    for (const b of o.release) b.release(true);
    o.release.clear();
    return { id: o.result.id, values: [], error: sendError(cannotSend('the result', err)), failed: 0, ms: o.result.ms };
  };

  const flush = (): void => {
    if (outbox.length === 0) return;
    const batch = outbox;
    outbox = [];
    try {
      port.post({ t: 'done', results: batch.map((o) => o.result) });
    } catch {
      for (const o of batch) {
        try {
          port.post({ t: 'done', results: [o.result] });
        } catch (err) {
          port.post({ t: 'done', results: [unsendable(o, err)] });
        }
      }
    }
    for (const o of batch) for (const b of o.release) b.release();
  };

  const runUnit = async (u: UnitMessage): Promise<void> => {
    const started = performance.now();
    let fn = fns.get(u.task);
    if (fn === undefined) {
      const def = defs.get(u.task);
      flush();
      try {
        if (def === undefined) throw new Error(`unknown task number ${u.task}`);
        fn = await loadTask(def.module, def.name);
        fns.set(u.task, fn);
      } catch (err) {
        outbox.push({ result: { id: u.id, values: [], error: sendError(err), failed: 0, load: true, ms: performance.now() - started }, release: new Set() });
        return;
      }
    }
    const values: unknown[] = [];
    const release = new Set<Block>();
    for (let i = 0; i < u.calls.length; i++) {
      try {
        const args = unpackArgs(u.calls[i], attachCache) as unknown[];
        let r = fn(...args);
        if (isThenable(r)) {
          flush(); // what is done goes now, not after this task
          r = await r;
        }
        values.push(packResult(r, attachCache, release));
      } catch (err) {
        outbox.push({ result: { id: u.id, values, error: sendError(err), failed: i, ms: performance.now() - started }, release });
        return;
      }
    }
    outbox.push({ result: { id: u.id, values, ms: performance.now() - started }, release });
  };

  const drain = async (): Promise<void> => {
    running = true;
    try {
      while (queue.length > 0) {
        await runUnit(queue.shift()!);
        attachCache.apply();
      }
      flush();
    } finally {
      running = false;
    }
    if (exiting) shutdown();
  };

  const take = (m: RunMessage): void => {
    if (m.defs !== undefined) for (const [n, module, name] of m.defs) defs.set(n, { module, name });
    if (m.evict !== undefined) attachCache.evictLater(m.evict);
    if (m.adopted !== undefined) for (const name of m.adopted) disown(name);
    for (const u of m.units) queue.push(u);
  };

  port.listen((m) => {
    switch (m.t) {
      case 'run':
        take(m);
        if (!running) {
          if (queue.length > 0) void drain();
          else attachCache.apply();
        }
        break;
      case 'cancel': {
        const i = queue.findIndex((q) => q.id === m.id);
        if (i >= 0) {
          queue.splice(i, 1);
          outbox.push({ result: { id: m.id, values: [], cancelled: true, ms: 0 }, release: new Set() });
          if (!running) flush();
        }
        break;
      }
      case 'exit':
        exiting = true;
        if (!running) shutdown();
        break;
    }
  });
  // The initializer (Python's Pool initializer) runs before any unit: units that arrive meanwhile wait
  // in the queue, as they would behind a running one. If it fails, the worker ends with its error
  // (an uncaught exception: the pool reports EWORKERDIED with it as the cause).
  const init = info.init;
  if (init === undefined) {
    port.post({ t: 'ready', pid: process.pid, threadId });
    return;
  }
  running = true;
  void (async () => {
    const fn = await loadTask(init.module, init.name);
    await fn(...init.args);
  })().then(
    () => {
      running = false;
      port.post({ t: 'ready', pid: process.pid, threadId });
      if (queue.length > 0) void drain();
      else if (exiting) shutdown();
    },
    (err: unknown) => {
      setImmediate(() => {
        throw err;
      });
    },
  );
}
