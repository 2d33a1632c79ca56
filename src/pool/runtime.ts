// The inside of a pool worker (a worker thread or a child process): it runs the units it is sent,
// one at a time, in order: imports the task's module (once), unpacks the arguments over the
// thread's attach cache, calls the export, packs the result (handing the arrays it created to the
// caller) and sends it back. A task's error is sent as data; it never ends the worker.

import { threadId } from 'node:worker_threads';

import type { Block } from '../ndarray/block.js';
import { disown } from '../segment/lifetime.js';
import { attachCache } from './attach-cache.js';
import { cannotSend, packResult, unpackArgs } from './codec.js';
import { sendError } from './errors.js';
import type { DoneMessage, FromWorker, NoteMessage, RunMessage, ToWorker, WorkerInfo } from './protocol.js';
import { type TaskFn, isThenable, loadTask as load } from './task.js';

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

export function startRuntime(port: Port, info: WorkerInfo, end: (code: number) => void): void {
  current = info;
  const queue: RunMessage[] = [];
  let running = false;
  let exiting = false;

  const notes = (m: RunMessage | NoteMessage): void => {
    if (m.evict !== undefined) attachCache.evictLater(m.evict);
    if (m.adopted !== undefined) for (const name of m.adopted) disown(name);
  };

  const shutdown = (): void => {
    try {
      attachCache.clear();
    } finally {
      end(0);
    }
  };

  // Sends a unit's outcome; the arrays handed over are released here once it is on its way.
  const finish = (message: DoneMessage, release: Set<Block>): void => {
    try {
      port.post(message);
    } catch (err) {
      // The result cannot be cloned (a function in it, ...): the caller gets that as the task's error,
      // and the arrays offered to it are taken back and removed.
      for (const b of release) b.release(true);
      release.clear();
      port.post({ t: 'done', id: message.id, values: [], error: sendError(cannotSend('the result', err)), failed: 0 });
    }
    for (const b of release) b.release();
  };

  const runUnit = async (m: RunMessage): Promise<void> => {
    let fn: TaskFn;
    try {
      fn = await load(m.module, m.name);
    } catch (err) {
      port.post({ t: 'done', id: m.id, values: [], error: sendError(err), failed: 0, load: true });
      return;
    }
    const values: unknown[] = [];
    const release = new Set<Block>();
    for (let i = 0; i < m.calls.length; i++) {
      try {
        const args = unpackArgs(m.calls[i], attachCache) as unknown[];
        let r = fn(...args);
        if (isThenable(r)) r = await r;
        values.push(packResult(r, attachCache, release));
      } catch (err) {
        finish({ t: 'done', id: m.id, values, error: sendError(err), failed: i }, release);
        return;
      }
    }
    finish({ t: 'done', id: m.id, values }, release);
  };

  const drain = async (): Promise<void> => {
    running = true;
    try {
      while (queue.length > 0) {
        await runUnit(queue.shift()!);
        attachCache.apply();
      }
    } finally {
      running = false;
    }
    if (exiting) shutdown();
  };

  port.listen((m) => {
    switch (m.t) {
      case 'run':
        notes(m);
        queue.push(m);
        if (!running) void drain();
        break;
      case 'cancel': {
        const i = queue.findIndex((q) => q.id === m.id);
        if (i >= 0) {
          queue.splice(i, 1);
          port.post({ t: 'done', id: m.id, values: [], cancelled: true });
        }
        break;
      }
      case 'note':
        notes(m);
        if (!running) attachCache.apply();
        break;
      case 'exit':
        exiting = true;
        if (!running) shutdown();
        break;
    }
  });
  port.post({ t: 'ready', pid: process.pid, threadId });
}
