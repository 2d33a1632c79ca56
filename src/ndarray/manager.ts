// jztools' XSharedMemoryManager: everything made or opened through it is released when it ends.

import type { DTypeLike } from '../dtype.js';
import { NdshmError, isNdshmError } from '../errors.js';
import { type ArrayFromOptions, SharedNDArray } from './array.js';
import type { Block } from './block.js';
import { type ArrayCreateOptions, type Tracker, newTracker } from './create.js';
import type { Scalar } from './elements.js';
import type { SharedNDArrayHandle } from './handle.js';
import type { ArrayOpenOptions } from './open.js';

type Shape = readonly number[] | number;
type Options<T> = Omit<T, 'manager'>;

export class SharedMemoryManager {
  readonly #blocks = new Set<Block>();
  #shut = false;

  empty(shape: Shape, dtype?: DTypeLike, options?: Options<ArrayCreateOptions>): SharedNDArray {
    return SharedNDArray.empty(shape, dtype, { ...options, manager: this.#tracker() });
  }

  zeros(shape: Shape, dtype?: DTypeLike, options?: Options<ArrayCreateOptions>): SharedNDArray {
    return SharedNDArray.zeros(shape, dtype, { ...options, manager: this.#tracker() });
  }

  full(shape: Shape, value: Scalar, dtype?: DTypeLike, options?: Options<ArrayCreateOptions>): SharedNDArray {
    return SharedNDArray.full(shape, value, dtype, { ...options, manager: this.#tracker() });
  }

  from(source: unknown, options?: Options<ArrayFromOptions>): SharedNDArray {
    return SharedNDArray.from(source, { ...options, manager: this.#tracker() });
  }

  open(nameOrHandle: string | SharedNDArrayHandle, options?: Options<ArrayOpenOptions>): SharedNDArray {
    return SharedNDArray.open(nameOrHandle, { ...options, manager: this.#tracker() });
  }

  /** Arrays made or opened through this manager and not yet released. */
  get size(): number {
    return this.#blocks.size;
  }

  get closed(): boolean {
    return this.#shut;
  }

  /**
   * Releases everything made or opened through this manager. Arrays it made are removed whatever
   * their scope, unless another process adopted them ('remote'); arrays it opened are closed.
   */
  shutdown(): void {
    if (this.#shut) return;
    this.#shut = true;
    const errors: unknown[] = [];
    for (const block of [...this.#blocks]) {
      try {
        block.release(true);
      } catch (err) {
        errors.push(err);
      }
    }
    this.#blocks.clear();
    if (errors.length === 0) return;
    const first = errors[0] as NdshmError;
    if (errors.length === 1) throw first;
    throw new NdshmError(isNdshmError(first) ? first.code : 'ESYSTEM', `SharedMemoryManager.shutdown: ${errors.length} arrays failed to release; the first: ${first.message}`, {
      cause: new AggregateError(errors),
    });
  }

  [Symbol.dispose](): void {
    this.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.shutdown();
  }

  #tracker(): Tracker {
    if (this.#shut) throw new NdshmError('ECLOSED', 'this SharedMemoryManager has been shut down');
    return newTracker((block) => {
      this.#blocks.add(block);
      block.onRelease(() => this.#blocks.delete(block));
    });
  }
}
