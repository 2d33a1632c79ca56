// What this runtime allows ndshm to do (for `ndshm doctor`, and for programs that want to know).

import * as native from './native.js';

export interface RuntimeInfo {
  /** Attaching makes buffers V8 does not count as external memory (no GC per attach). */
  readonly uncountedBuffers: boolean;
  /** The largest mapping, hence array, this Node version allows (4 GiB on Node 20). */
  readonly maxMappingLength: number;
  readonly pageSize: number;
}

export function runtimeInfo(): RuntimeInfo {
  return { uncountedBuffers: native.uncountedBuffers, maxMappingLength: native.maxMappingLength, pageSize: native.pageSize };
}
