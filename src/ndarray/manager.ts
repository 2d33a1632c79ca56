// jztools' XSharedMemoryManager: everything made or opened through it is released when it ends.

import type { DTypeLike } from '../dtype.js';
import { NdshmError } from '../errors.js';
import { type ArrayFromOptions, SharedNDArray } from './array.js';
import type { Block } from './block.js';
import type { ArrayCreateOptions } from './create.js';
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
    if (errors.length > 0) throw new AggregateError(errors, `SharedMemoryManager.shutdown: ${errors.length} arrays failed to release`);
  }

  [Symbol.dispose](): void {
    this.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.shutdown();
  }

  #tracker(): { track(block: Block): void } {
    if (this.#shut) throw new NdshmError('ECLOSED', 'this SharedMemoryManager has been shut down');
    return {
      track: (block) => {
        this.#blocks.add(block);
        block.onRelease(() => this.#blocks.delete(block));
      },
    };
  }
}
