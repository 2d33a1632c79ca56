// Copying file bytes into a mapped segment in the kernel (sendfile), or with read() straight into the
// mapping: the file loaders' one native call (src/native.ts, section "file copies").
#pragma once
#include <node_api.h>

#include <cstddef>

namespace ndshm {

// Defined in addon.cc: the descriptor of this environment's live mapping of exactly
// [addr, addr + len), or -1 when there is none.
int MappingFd(napi_env env, const void* addr, size_t len);

// Adds copyFromFile to `exports` (called once from addon.cc's Init).
void RegisterCopy(napi_env env, napi_value exports);

}  // namespace ndshm
