// The public API: re-exports only (test/public-api.test.ts snapshots this list).

export { NdshmError, isNdshmError } from './errors.js';
export type { NdshmErrorCode, NdshmErrorOptions } from './errors.js';
export { dtype } from './dtype.js';
export { runtimeInfo } from './runtime.js';
export type { RuntimeInfo } from './runtime.js';
export type { ByteOrder, DType, DTypeLike, DTypeName, TypedArray } from './dtype.js';
export { Segment } from './segment/segment.js';
export type { SegmentCreateOptions, SegmentInfo, SegmentOpenOptions } from './segment/segment.js';
export { maxNameLength } from './segment/names.js';
export {
  SharedMemoryException,
  SharedMemoryRegion,
  createSharedMemoryRegion,
  destroySharedMemoryRegion,
  getContentsAsArray,
  mappedSharedMemoryRegions,
  setSharedMemoryRegion,
} from './regions/triton.js';
export type { CreateRegionOptions, RegionValue } from './regions/triton.js';
export type { HasContiguousBytes } from './contiguous.js';
export type { BytesElement, BytesTensor } from './regions/bytes.js';
export { SharedNDArray } from './ndarray/array.js';
export type { ArrayFromOptions } from './ndarray/array.js';
export type { Scope } from './ndarray/block.js';
export type { ArrayCreateOptions } from './ndarray/create.js';
export type { Scalar } from './ndarray/elements.js';
export type { SharedNDArrayHandle } from './ndarray/handle.js';
export type { Index } from './ndarray/indexing.js';
export type { Order } from './ndarray/layout.js';
export type { ArrayOpenOptions } from './ndarray/open.js';
export { SharedMemoryManager } from './ndarray/manager.js';
export { packArrays, sendArrays, unpackArrays } from './ndarray/messages.js';
export type { PackedArray } from './ndarray/messages.js';
export { gc } from './stores/gc.js';
export type { StoreGcOptions } from './stores/gc.js';
export type { GcEntry, GcOptions } from './ndarray/gc.js';
export { arraysToShm, listStores, shmToArrays, unlink, unlinkedArraysToShm } from './stores/api.js';
export type { ArraysToShmOptions, ShmToArraysOptions, StoreArrayInfo, StoreFormat, StoreInfo, WrittenStore } from './stores/api.js';
export type { AttrValue, Attrs } from './stores/attrs.js';
export type { StoreWriteOptions } from './stores/builder.js';
export { releaseArrays } from './stores/read.js';
export type { StoreLeaf, StoreLeafMeta, StoreReadOptions, StoreTree } from './stores/read.js';
export { npyToShm, npzToShm, shmToNpy, shmToNpz } from './stores/npy.js';
export type { NpyToShmOptions, NpzToShmOptions, ShmToNpzOptions, WrittenFile } from './stores/npy.js';
export { hdf5ToShm } from './stores/hdf5.js';
export type { Hdf5SkippedObject, Hdf5ToShmOptions, Hdf5ToShmResult } from './stores/hdf5.js';
export { Mutex } from './sync/mutex.js';
export type { LockOptions, LockResult, MutexCreateOptions } from './sync/mutex.js';
export { Counter } from './sync/counter.js';
export type { CounterCreateOptions, CounterOpenOptions, CounterWaitOptions } from './sync/counter.js';
export { Barrier } from './sync/barrier.js';
export type { BarrierCreateOptions, BarrierOpenOptions, BarrierWaitOptions } from './sync/barrier.js';
export type { SyncHandle } from './sync/handle.js';
export type { SyncCreateOptions } from './sync/block.js';
export { HostGroup } from './group/host-group.js';
export type { CollectiveOptions, HostGroupEnvOptions, HostGroupJoinOptions, JsonValue } from './group/host-group.js';
export { ResourceAllocation } from './group/resource.js';
export type { ResourceAllocationOptions, TrackOptions, TrackedMemory } from './group/resource.js';
export { HostSharedMemory, cleanupSharedNdarray, createSharedNdarray, sharedMemIsEnabled } from './group/shared.js';
export type { CleanupOptions, CreateSharedNdarrayOptions } from './group/shared.js';
export { LocalNdarray } from './group/local.js';
export { groupPool, poolGroup } from './group/pool-group.js';
export type { GroupPoolOptions } from './group/pool-group.js';
export type { AxisSlice, LocalNdarrayHandle, SliceLike } from './group/local.js';
export { SerialPool, defineTask, globRead, globRemove, globStore, globStoreAttributes, globStored, globUpdate, noParallel, parallelEnabled, processPool, threadPool } from './pool/index.js';
export type { ApplyAsyncOptions, AsyncResult, MapOptions, Pool, PoolKind, PoolOptions, PoolState, ProgressOptions, Task, TaskOptions, TaskRef, WaitOptions } from './pool/index.js';
