// Cross-process synchronisation (src/sync): robust process-shared mutexes, futex waits and wakes on
// words of a sync segment, and one waiter thread per JavaScript thread for asynchronous waits.
#pragma once
#include <node_api.h>

namespace ndshm {

// Adds the sync functions (syncMap, syncCallback, syncCancel, syncRef, syncInfo) to `exports`.
void RegisterSync(napi_env env, napi_value exports);

}  // namespace ndshm
