#include "shared_buffer.h"

#include <dlfcn.h>
#include <v8.h>

#include <memory>

namespace ndshm::shared {
namespace {

// Mangled names of every V8 function route 1 calls.
const char* const kV8Symbols[] = {
    "_ZN2v87Isolate10GetCurrentEv",
    "_ZN2v817SharedArrayBuffer15NewBackingStoreEPvmPFvS1_mS1_ES1_",
    "_ZN2v817SharedArrayBuffer3NewEPNS_7IsolateESt10shared_ptrINS_12BackingStoreEE",
    "_ZN2v812BackingStoreD1Ev",
};

using NapiExternalSab = napi_status (*)(napi_env, void*, size_t, void (*)(void*, void*), void*, napi_value*);

bool V8Available() {
  static const bool available = [] {
    for (const char* name : kV8Symbols) {
      if (dlsym(RTLD_DEFAULT, name) == nullptr) return false;
    }
    return true;
  }();
  return available;
}

NapiExternalSab NapiRoute() {
  static const NapiExternalSab fn =
      reinterpret_cast<NapiExternalSab>(dlsym(RTLD_DEFAULT, "node_api_create_external_sharedarraybuffer"));
  return fn;
}

struct Pending {
  Deleter deleter;
  void* data;
  size_t len;
  void* hint;
};

void NoEnvFinalize(void*, void* hint) {
  auto* p = static_cast<Pending*>(hint);
  p->deleter(p->data, p->len, p->hint);
  delete p;
}

void EnvFinalize(napi_env, void*, void* hint) { NoEnvFinalize(nullptr, hint); }

void ClearException(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

}  // namespace

int Available() {
  return (V8Available() ? 1 << kV8 : 0) | (NapiRoute() != nullptr ? 1 << kNapi : 0) | (1 << kArrayBuffer);
}

Route New(napi_env env, Route wanted, void* data, size_t len, Deleter deleter, void* hint, napi_value* result) {
  if ((wanted == kAuto || wanted == kV8) && V8Available()) {
    std::shared_ptr<v8::BackingStore> store = v8::SharedArrayBuffer::NewBackingStore(data, len, deleter, hint);
    v8::Local<v8::SharedArrayBuffer> buffer = v8::SharedArrayBuffer::New(v8::Isolate::GetCurrent(), std::move(store));
    // Node-API values are V8 locals (src/js_native_api_v8.h, JsValueFromV8LocalValue).
    *result = reinterpret_cast<napi_value>(*buffer);
    return kV8;
  }
  if (wanted == kV8) return kNone;
  if ((wanted == kAuto || wanted == kNapi) && NapiRoute() != nullptr) {
    auto* p = new Pending{deleter, data, len, hint};
    if (NapiRoute()(env, data, len, NoEnvFinalize, p, result) == napi_ok) return kNapi;
    ClearException(env);
    delete p;
  }
  if (wanted == kNapi) return kNone;
  auto* p = new Pending{deleter, data, len, hint};
  if (napi_create_external_arraybuffer(env, data, len, EnvFinalize, p, result) == napi_ok) return kArrayBuffer;
  ClearException(env);
  delete p;
  return kNone;
}

}  // namespace ndshm::shared
