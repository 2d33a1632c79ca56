// SharedArrayBuffers over memory that ndshm mapped (the sync layer's pages), so that JavaScript can
// use Atomics on them as the language defines (Atomics on a non-shared ArrayBuffer are allowed since
// tc39/ecma262#1908, but an engine may then compile them to plain loads and stores).
//
// Three routes, tried in this order:
//   1. V8's API: SharedArrayBuffer::NewBackingStore(data, len, deleter, hint) + SharedArrayBuffer::New,
//      looked up with dlsym (exported by Node 20, 22 and 24), as uncounted_buffer.cc does for
//      ArrayBuffers. The deleter runs when the last SharedArrayBuffer over the store is gone.
//   2. node_api_create_external_sharedarraybuffer (experimental; Node 22.?+ and 24), resolved at
//      runtime, never linked.
//   3. A plain external ArrayBuffer (napi_create_external_arraybuffer). V8 runs Atomics on it with
//      the same atomic instructions today; docs/sync.md says so.
// The route can be forced with a mode argument (tests of the fallbacks).
#pragma once
#include <node_api.h>

#include <cstddef>

namespace ndshm::shared {

enum Route : int { kAuto = 0, kV8 = 1, kNapi = 2, kArrayBuffer = 3, kNone = -1 };

// Called once, from any thread, when no buffer can reach the memory any more.
using Deleter = void (*)(void* data, size_t len, void* hint);

// Wraps [data, data + len) in a buffer; returns the route taken, or kNone (nothing was created and
// the deleter will not run).
Route New(napi_env env, Route wanted, void* data, size_t len, Deleter deleter, void* hint, napi_value* result);

// Which routes exist in this process (bit 1 << route).
int Available();

}  // namespace ndshm::shared
