#include "uncounted_buffer.h"

#include <dlfcn.h>
#include <v8.h>

#include <memory>

namespace ndshm::uncounted {

struct StoreRef {
  std::shared_ptr<v8::BackingStore> store;
};

namespace {

// The mangled names of every V8 function this file calls (present in Node 20.20, 22.23, 24.21).
const char* const kSymbols[] = {
    "_ZN2v87Isolate10GetCurrentEv",
    "_ZN2v811ArrayBuffer15NewBackingStoreEPvmPFvS1_mS1_ES1_",
    "_ZN2v812BackingStore12EmptyDeleterEPvmS1_",
    "_ZN2v812BackingStoreD1Ev",
    "_ZN2v811ArrayBuffer3NewEPNS_7IsolateESt10shared_ptrINS_12BackingStoreEE",
};

}  // namespace

bool Available() {
  static const bool available = [] {
    for (const char* name : kSymbols) {
      if (dlsym(RTLD_DEFAULT, name) == nullptr) return false;
    }
    return true;
  }();
  return available;
}

StoreRef* New(napi_env, void* data, size_t len, napi_value* result) {
  if (!Available()) return nullptr;
  auto* ref = new StoreRef{v8::ArrayBuffer::NewBackingStore(data, len, v8::BackingStore::EmptyDeleter, nullptr)};
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(v8::Isolate::GetCurrent(), ref->store);
  // Node-API values are V8 locals (src/js_native_api_v8.h, JsValueFromV8LocalValue).
  *result = reinterpret_cast<napi_value>(*buffer);
  return ref;
}

bool InUse(const StoreRef* ref) { return ref->store.use_count() > 1; }

void Drop(StoreRef* ref) { delete ref; }

}  // namespace ndshm::uncounted
