// The Node-API binding: turns the POSIX core (shm.h) into JS values. It validates nothing and words
// no messages: a failed call returns undefined and leaves [errno, syscall id] in the result slots,
// for TypeScript to turn into an error.
#include <fcntl.h>
#include <unistd.h>

#include <node_api.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "copy.h"
#include "shm.h"
#include "sigbus.h"
#include "sync.h"
#include "uncounted_buffer.h"

namespace ndshm {
namespace {

// Syscall ids shared with src/native.ts.
enum SyscallId : int { kShmOpen, kFstat, kFchmod, kFallocate, kMmap, kMunmap, kClose, kShmUnlink, kPipe2, kRenameat2, kWrap };

int SyscallIdOf(const char* name) {
  static const char* const kNames[] = {"shm_open", "fstat", "fchmod",     "posix_fallocate", "mmap",
                                       "munmap",   "close", "shm_unlink", "pipe2",           "renameat2"};
  for (int i = 0; i < kWrap; i++) {
    if (std::strcmp(name, kNames[i]) == 0) return i;
  }
  return kWrap;
}

// Result slots (a Float64Array shared with TypeScript): every call writes its outputs here instead
// of building an object, which keeps an attach to a handful of stores.
enum Slot : int { kErrno, kSyscall, kId, kSize, kIno, kMode, kUid, kNlink, kSlots };

struct MapState {
  double id = 0;
  void* addr = nullptr;
  size_t len = 0;
  int fd = -1;
  int guard = -1;              // SIGBUS registry slot
  bool mapped = false;         // munmap has not happened yet
  bool buffer_alive = true;    // our ArrayBuffer object has not been finalized
  bool pending = false;        // waiting in Instance::pending for other users of the memory to go
  bool counted = false;        // Node-API buffer: its backing-store deleter ends the mapping
  uncounted::StoreRef* store = nullptr;
  napi_ref buffer = nullptr;   // weak: views keep the buffer alive, this must not
};

struct Instance {
  double* out = nullptr;
  napi_ref out_ref = nullptr;
  bool uncounted = false;
  double next_id = 1;
  std::unordered_map<double, MapState*> maps;
  std::vector<MapState*> pending;
  std::vector<int> close_at_exit;  // the watchdog pipe: its closing tells the watchdog we are gone
};

Instance* Inst(napi_env env) {
  Instance* inst = nullptr;
  napi_get_instance_data(env, reinterpret_cast<void**>(&inst));
  return inst;
}

void Fail(Instance* inst, int err, int syscall) {
  inst->out[kErrno] = err;
  inst->out[kSyscall] = syscall;
}

void Fail(Instance* inst, const Failure& f) { Fail(inst, f.err, SyscallIdOf(f.syscall)); }

Failure Unmap(MapState* st) {
  if (!st->mapped) return Failure{};
  st->mapped = false;
  sigbus::Unregister(st->guard);
  Failure f = ndshm::Unmap(st->addr, st->len, st->fd);
  st->addr = nullptr;
  st->fd = -1;
  if (st->store != nullptr) {
    uncounted::Drop(st->store);
    st->store = nullptr;
  }
  return f;
}

void MaybeFree(napi_env env, Instance* inst, MapState* st) {
  if (st->mapped || st->pending || (st->buffer_alive && !st->counted)) return;
  inst->maps.erase(st->id);
  if (st->buffer != nullptr) napi_delete_reference(env, st->buffer);
  delete st;
}

// Unmaps now when no ArrayBuffer can reach the memory any more, otherwise once none can (Sweep).
Failure Release(Instance* inst, MapState* st) {
  if (!st->mapped || st->pending) return Failure{};
  if (st->store != nullptr && uncounted::InUse(st->store)) {
    st->pending = true;
    inst->pending.push_back(st);
    return Failure{};
  }
  return Unmap(st);
}

void Sweep(napi_env env, Instance* inst) {
  if (inst->pending.empty()) return;
  std::vector<MapState*> still;
  std::vector<MapState*> done;
  for (MapState* st : inst->pending) (uncounted::InUse(st->store) ? still : done).push_back(st);
  inst->pending.swap(still);
  for (MapState* st : done) {
    st->pending = false;
    Unmap(st);
    MaybeFree(env, inst, st);
  }
}

// Our ArrayBuffer object was collected (or its env ended). Unmapping here is a backstop only: close()
// is the way to end a mapping, and this may run late or never (process.exit, signals).
void FinalizeObject(napi_env env, void* data, void*) {
  MapState* st = static_cast<MapState*>(data);
  Instance* inst = Inst(env);
  st->buffer_alive = false;
  Release(inst, st);
  MaybeFree(env, inst, st);
}

// Node-API path: the backing store itself is gone, wherever it had moved.
void FinalizeCounted(napi_env env, void*, void* hint) {
  MapState* st = static_cast<MapState*>(hint);
  Unmap(st);
  MaybeFree(env, Inst(env), st);
}

MapState* Lookup(napi_env env, napi_value id_value) {
  double id = 0;
  napi_get_value_double(env, id_value, &id);
  Instance* inst = Inst(env);
  auto it = inst->maps.find(id);
  return it == inst->maps.end() ? nullptr : it->second;
}

// Wraps a fresh mapping in an ArrayBuffer and records it; returns the buffer or nullptr.
napi_value Wrap(napi_env env, Instance* inst, const Mapped& m) {
  MapState* st = new MapState();
  st->addr = m.addr;
  st->len = m.len;
  st->fd = m.fd;
  st->mapped = true;
  st->guard = sigbus::Register(m.addr, m.len, m.fd);

  napi_value buffer = nullptr;
  napi_status status = napi_ok;
  if (m.addr == nullptr) {
    void* ignored;
    status = napi_create_arraybuffer(env, 0, &ignored, &buffer);
  } else if (inst->uncounted) {
    st->store = uncounted::New(env, m.addr, m.len, &buffer);
    if (st->store == nullptr) status = napi_generic_failure;
  } else {
    st->counted = true;
    status = napi_create_external_arraybuffer(env, m.addr, m.len, FinalizeCounted, st, &buffer);
  }
  if (status == napi_ok && !st->counted) status = napi_add_finalizer(env, buffer, st, FinalizeObject, nullptr, nullptr);
  if (status != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    Unmap(st);
    delete st;
    Fail(inst, status == napi_no_external_buffers_allowed ? ENOTSUP : ENOMEM, kWrap);
    return nullptr;
  }
  napi_create_reference(env, buffer, 0, &st->buffer);
  st->id = inst->next_id++;
  inst->maps.emplace(st->id, st);
  inst->out[kErrno] = 0;
  inst->out[kId] = st->id;
  inst->out[kSize] = static_cast<double>(m.len);
  inst->out[kIno] = static_cast<double>(m.ino);
  inst->out[kUid] = static_cast<double>(m.uid);
  return buffer;
}

// A failed create or open: errno and syscall, and the object's size when it was too large to map.
void FailMapped(Instance* inst, const Mapped& m) {
  Fail(inst, m.failure);
  inst->out[kSize] = static_cast<double>(m.len);
}

std::string StringArg(napi_env env, napi_value v) {
  char buf[256];
  size_t len = 0;
  napi_get_value_string_utf8(env, v, buf, sizeof(buf), &len);
  return std::string(buf, len);
}

// A file path (up to PATH_MAX); TypeScript has checked it is a string without NUL characters.
std::string PathArg(napi_env env, napi_value v) {
  size_t len = 0;
  napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

double NumberArg(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

uint64_t SizeArg(napi_env env, napi_value v) {
  double d = NumberArg(env, v);
  return d <= 0 ? 0 : static_cast<uint64_t>(d);
}

template <size_t N>
void Args(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
}

napi_value Undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// create(name, size, mode, maxLength) -> ArrayBuffer | undefined
napi_value JS_create(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Args(env, info, argv);
  Instance* inst = Inst(env);
  Sweep(env, inst);
  Mapped m = CreateAndMap(StringArg(env, argv[0]), SizeArg(env, argv[1]),
                          static_cast<unsigned>(SizeArg(env, argv[2])), SizeArg(env, argv[3]));
  if (m.failure.err) {
    FailMapped(inst, m);
    return Undefined(env);
  }
  napi_value buffer = Wrap(env, inst, m);
  return buffer ? buffer : Undefined(env);
}

// open(name, readOnly, maxLength) -> ArrayBuffer | undefined
napi_value JS_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Args(env, info, argv);
  Instance* inst = Inst(env);
  Sweep(env, inst);
  bool read_only = false;
  napi_get_value_bool(env, argv[1], &read_only);
  Mapped m = OpenAndMap(StringArg(env, argv[0]), read_only, SizeArg(env, argv[2]));
  if (m.failure.err) {
    FailMapped(inst, m);
    return Undefined(env);
  }
  napi_value buffer = Wrap(env, inst, m);
  return buffer ? buffer : Undefined(env);
}

// close(id) -> true | false (failure in the slots). Detaches our buffer first, so every view of it
// becomes length 0, then unmaps unless a buffer it was moved to still reaches the memory.
napi_value JS_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Args(env, info, argv);
  Instance* inst = Inst(env);
  inst->out[kErrno] = 0;
  MapState* st = Lookup(env, argv[0]);
  Failure f;
  if (st != nullptr && st->mapped) {
    napi_value buffer = nullptr;
    napi_get_reference_value(env, st->buffer, &buffer);
    bool moved = buffer == nullptr;  // collected; a counted store may live on elsewhere
    if (buffer != nullptr) {
      napi_is_detached_arraybuffer(env, buffer, &moved);  // detached by someone else: moved
      if (!moved && st->len > 0) napi_detach_arraybuffer(env, buffer);
    }
    if (!st->counted) {
      f = Release(inst, st);
    } else if (!moved) {
      f = Unmap(st);  // the deleter, when it comes, finds nothing left to do
    }                 // else: FinalizeCounted unmaps when the moved store is gone
  }
  Sweep(env, inst);
  if (f.err) Fail(inst, f);
  napi_value result;
  napi_get_boolean(env, f.err == 0, &result);
  return result;
}

// stat(id) -> true (size, mode, uid, ino, nlink in the slots) | false
napi_value JS_stat(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Args(env, info, argv);
  Instance* inst = Inst(env);
  MapState* st = Lookup(env, argv[0]);
  napi_value result;
  if (st == nullptr || !st->mapped) {
    Fail(inst, EBADF, kFstat);
    napi_get_boolean(env, false, &result);
    return result;
  }
  Stat s = FstatFd(st->fd);
  if (s.failure.err) {
    Fail(inst, s.failure);
  } else {
    inst->out[kErrno] = 0;
    inst->out[kSize] = static_cast<double>(s.size);
    inst->out[kMode] = s.mode;
    inst->out[kUid] = s.uid;
    inst->out[kIno] = static_cast<double>(s.ino);
    inst->out[kNlink] = static_cast<double>(s.nlink);
  }
  napi_get_boolean(env, s.failure.err == 0, &result);
  return result;
}

// fault(id) -> 0 none | 1 truncated | 2 unbacked (recorded by the SIGBUS guard)
napi_value JS_fault(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Args(env, info, argv);
  MapState* st = Lookup(env, argv[0]);
  napi_value result;
  napi_create_int32(env, st != nullptr && st->mapped ? sigbus::FaultOf(st->guard) : 0, &result);
  return result;
}

// rename(from, to, flags) -> true | false: renameat2 on two paths (see shm.h for the flags).
napi_value JS_rename(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Args(env, info, argv);
  Failure f = Rename(PathArg(env, argv[0]), PathArg(env, argv[1]), static_cast<unsigned>(NumberArg(env, argv[2])));
  if (f.err) Fail(Inst(env), f);
  napi_value result;
  napi_get_boolean(env, f.err == 0, &result);
  return result;
}

// ownerPipe() -> [readFd, writeFd] | undefined. Both ends are close-on-exec; the write end is
// non-blocking (a watchdog that stops reading must never block its owner), and this env closes it
// when it ends.
napi_value JS_ownerPipe(napi_env env, napi_callback_info) {
  Instance* inst = Inst(env);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    Fail(inst, errno, kPipe2);
    return Undefined(env);
  }
  fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
  inst->close_at_exit.push_back(fds[1]);
  napi_value a, r, w;
  napi_create_array_with_length(env, 2, &a);
  napi_create_int32(env, fds[0], &r);
  napi_create_int32(env, fds[1], &w);
  napi_set_element(env, a, 0, r);
  napi_set_element(env, a, 1, w);
  return a;
}

// closeOwnerPipe(writeFd): closes a write end ownerPipe made (a watchdog being replaced), so that
// the env's exit does not close the number again once it is reused.
napi_value JS_closeOwnerPipe(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Args(env, info, argv);
  Instance* inst = Inst(env);
  int fd = static_cast<int>(NumberArg(env, argv[0]));
  for (auto it = inst->close_at_exit.begin(); it != inst->close_at_exit.end(); ++it) {
    if (*it == fd) {
      inst->close_at_exit.erase(it);
      close(fd);
      break;
    }
  }
  return Undefined(env);
}

// closeFd(fd): closes a descriptor ownerPipe returned (the read end, once the watchdog has its
// copy). Node's fs.closeSync would warn in worker threads about a descriptor it did not open.
napi_value JS_closeFd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Args(env, info, argv);
  close(static_cast<int>(NumberArg(env, argv[0])));
  return Undefined(env);
}

// configure(wantUncounted) -> { out: Float64Array, uncounted: boolean, pageSize: number }
napi_value JS_configure(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Args(env, info, argv);
  Instance* inst = Inst(env);
  bool want = false;
  napi_get_value_bool(env, argv[0], &want);
  inst->uncounted = want && uncounted::Available();
  napi_value out, ab, flag, page, result;
  void* data = nullptr;
  if (inst->out_ref == nullptr) {
    napi_create_arraybuffer(env, kSlots * sizeof(double), &data, &ab);
    napi_create_typedarray(env, napi_float64_array, kSlots, ab, 0, &out);
    napi_create_reference(env, out, 1, &inst->out_ref);
    inst->out = static_cast<double*>(data);
  } else {
    napi_get_reference_value(env, inst->out_ref, &out);
  }
  napi_get_boolean(env, inst->uncounted, &flag);
  napi_create_double(env, static_cast<double>(sysconf(_SC_PAGESIZE)), &page);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "out", out);
  napi_set_named_property(env, result, "uncounted", flag);
  napi_set_named_property(env, result, "pageSize", page);
  return result;
}

void CloseAtExit(void* data) {
  auto* inst = static_cast<Instance*>(data);
  for (int fd : inst->close_at_exit) close(fd);
  inst->close_at_exit.clear();
}

napi_value Init(napi_env env, napi_value exports) {
  sigbus::Install();
  // The instance is never freed: finalizers of this env's buffers may run after its cleanup hooks.
  Instance* inst = new Instance();
  napi_set_instance_data(env, inst, nullptr, nullptr);
  napi_add_env_cleanup_hook(env, CloseAtExit, inst);
  const napi_property_descriptor props[] = {
      {"configure", nullptr, JS_configure, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"create", nullptr, JS_create, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"open", nullptr, JS_open, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"close", nullptr, JS_close, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"stat", nullptr, JS_stat, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"fault", nullptr, JS_fault, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ownerPipe", nullptr, JS_ownerPipe, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"closeOwnerPipe", nullptr, JS_closeOwnerPipe, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"closeFd", nullptr, JS_closeFd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rename", nullptr, JS_rename, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  RegisterSync(env, exports);
  RegisterCopy(env, exports);
  return exports;
}

}  // namespace

// For copy.cc (declared in copy.h): the descriptor a live mapping holds, found by its memory.
int MappingFd(napi_env env, const void* addr, size_t len) {
  for (const auto& [id, st] : Inst(env)->maps) {
    if (st->mapped && st->addr == addr && st->len == len) return st->fd;
  }
  return -1;
}

}  // namespace ndshm

NAPI_MODULE_INIT() { return ndshm::Init(env, exports); }
