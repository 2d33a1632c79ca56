// ArrayBuffers over a mapping that V8 does not count as external memory.
//
// Node-API's napi_create_external_arraybuffer gives the buffer a deleter, and V8 counts every such
// buffer as memory it must collect: a 1 GiB attach then starts incremental marking or a full GC
// (0.2-2 ms per attach, measured). napi_adjust_external_memory(-size) cannot cancel it: V8's limit
// follows the low-water mark of the count, and Node 24 aborts the process when the count goes
// negative. V8's own API makes a buffer with an empty deleter, which is not counted. This is the only
// file that uses the V8 API; every symbol it needs is looked up at load time, and when one is missing
// the binding falls back to Node-API.
//
// An empty deleter also means V8 never tells us when the memory is released, and the backing store
// can outlive the JS object: ArrayBuffer.prototype.transfer and web streams' BYOB readers move it to a
// new ArrayBuffer. So we hold a reference to the backing store ourselves and unmap only when ours is
// the last one (a detach key would forbid the move instead, but Node 20 and 22 abort the process when
// their own code meets a keyed buffer).
#pragma once
#include <node_api.h>

#include <cstddef>

namespace ndshm::uncounted {

struct StoreRef;

bool Available();
// Returns our reference to the new buffer's backing store, or nullptr on failure.
StoreRef* New(napi_env env, void* data, size_t len, napi_value* result);
// True while any ArrayBuffer (the original, a transferred one, one in another thread) can still
// reach the memory.
bool InUse(const StoreRef* ref);
void Drop(StoreRef* ref);

}  // namespace ndshm::uncounted
