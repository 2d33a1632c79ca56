// SerialPool (PyNitride's FakePool): the same interface and outcomes as the real pools, with every
// task run here, one after another, in submission order. What a worker would get is what the task
// gets: arguments and results are structured clones, except arrays, sync objects and glob-stored
// instances, which are the same objects (they are shared memory in the real pools too). A task's
// error rejects (and reaches errorCallback) exactly as in the real pools: ETASK, with the error as cause.

import { AsyncResource } from 'node:async_hooks';

import type { NdshmError } from '../errors.js';
import { blocksIn, cloneThrough, newArrays } from './codec.js';
import { loadError, poolClosed, taskError } from './errors.js';
import { PoolBase, type Unit } from './pool.js';
import { isThenable, loadTask, taskLabel } from './task.js';

export class SerialPool extends PoolBase {
  readonly kind = 'serial' as const;
  readonly size = 1;
  readonly #queue: Unit[] = [];
  readonly #calls = new WeakMap<Unit, unknown[][]>();
  #running = false;

  constructor() {
    super();
  }

  /** Nothing to start: tasks run in this thread. EPOOLCLOSED unless open. */
  start(): Promise<void> {
    return this.state === 'open' ? Promise.resolve() : Promise.reject(poolClosed(`start: the pool is ${this.state}`));
  }

  // After terminate() the running task (which this thread cannot stop) is not waited for.
  protected get workersGone(): boolean {
    return !this.#running || this.state === 'terminated';
  }

  protected dispatch(unit: Unit): void {
    let calls: unknown[][];
    try {
      calls = unit.calls.map((c) => cloneThrough(c, 'a task argument') as unknown[]);
    } catch (err) {
      unit.done([], err as NdshmError);
      return;
    }
    this.#calls.set(unit, calls);
    unit.enter = AsyncResource.bind((fn: () => unknown) => fn()) as <T>(fn: () => T) => T; // the task runs in its caller's async context
    this.#queue.push(unit);
    if (!this.#running) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const unit = this.#queue.shift()!;
        if (!unit.settled) await unit.enter!(() => this.#run(unit));
      }
    } finally {
      this.#running = false;
      this.settledOne();
    }
  }

  async #run(unit: Unit): Promise<void> {
    const where = ' in this thread (SerialPool)';
    let fn: (...args: unknown[]) => unknown;
    try {
      fn = await loadTask(unit.task.module, unit.task.name);
    } catch (err) {
      return unit.done([], loadError(taskLabel(unit.task), where, err));
    }
    const calls = this.#calls.get(unit)!;
    const values: unknown[] = [];
    for (let i = 0; i < calls.length; i++) {
      if (unit.settled) return; // aborted or terminated meanwhile: the rest does not run
      const args = calls[i]!;
      try {
        let r = fn(...args);
        if (isThenable(r)) r = await r;
        values.push(cloneThrough(r, 'the result'));
      } catch (err) {
        return this.#finish(unit, values, taskError(taskLabel(unit.task), where, err));
      }
    }
    this.#finish(unit, values, undefined);
  }

  // Arrays a result holds that are not the task's arguments are new: released if nobody takes them.
  #finish(unit: Unit, values: unknown[], error: NdshmError | undefined): void {
    const lent = blocksIn(this.#calls.get(unit));
    unit.done(values, error, newArrays(values, lent));
  }

  protected withdraw(): void {
    // A queued unit is skipped when its turn comes; the running one cannot be stopped (it is this
    // thread): it runs on, and what it returns is released.
  }

  protected closing(): void {}

  protected async kill(): Promise<void> {
    this.#queue.length = 0;
  }
}
