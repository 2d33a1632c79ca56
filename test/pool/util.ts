// Helpers of the pool tests: the three pool kinds, the task module, and error checks.

import assert from 'node:assert/strict';

import { NdshmError, type Pool, type PoolOptions, SerialPool, processPool, threadPool } from '../../src/index.js';

export type Kind = 'process' | 'thread' | 'serial';
export const kinds: readonly Kind[] = ['process', 'thread', 'serial'];

export function makePool(kind: Kind, options: PoolOptions = {}): Pool {
  if (kind === 'serial') return new SerialPool();
  return kind === 'process' ? processPool({ size: 2, ...options }) : threadPool({ size: 2, ...options });
}

/** The task module, as a file URL (tasks are named by module and export). */
export const tasks = new URL('./tasks.js', import.meta.url).href;
export const task = (name: string): { module: string; name: string } => ({ module: tasks, name });

/** The NdshmError a promise rejects with (fails the test if it resolves or rejects with something else). */
export async function rejection(p: PromiseLike<unknown>, code: string): Promise<NdshmError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof NdshmError, `expected an NdshmError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a rejection with ${code}, got a result`);
}
