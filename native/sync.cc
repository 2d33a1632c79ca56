// The native half of src/sync (docs/sync.md has the design; docs/format.md the layout).
//
// A sync segment is mapped a second time here (mremap of the segment layer's mapping with old size 0
// makes a new mapping of the same shared pages, with no second lookup by name), and that mapping is
// handed to JavaScript as a SharedArrayBuffer for Atomics. Every operation below is a method of an
// "ops" object bound to one mapping (the function's data pointer), so a call costs no lookup.
//
// Rules this file keeps:
// - A robust mutex is only ever locked and unlocked on the JavaScript thread that uses it, never on a
//   helper thread: the owner is the thread the kernel watches (robust-futex ABI).
// - The pages are never unmapped while this thread holds a lock in them: glibc threads its robust list
//   through the mutexes themselves, and the kernel walks that list when the thread ends. Unmapping a
//   held mutex would break owner-death detection for every later lock of the thread, and glibc's own
//   list walk at the next unlock. Such a mapping is left in place (a page) instead.
// - Asynchronous waits never use libuv's thread pool: one waiter thread per environment watches the
//   words with futex_waitv (one control word + up to 127 shared words) and never takes a lock; it sets
//   FUTEX_WAITERS in a mutex's word exactly as glibc's own waiters do, so an unlock or the owner's
//   death (the kernel) wakes it. The JavaScript thread then tries the lock itself.
#include "sync.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "shared_buffer.h"
#include "sigbus.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

namespace ndshm {
namespace sync {
namespace {

constexpr uint32_t kFutexWaiters = 0x80000000u;
constexpr uint32_t kTidMask = 0x3fffffffu;
constexpr uint32_t kSlotStride = 64;
constexpr uint32_t kSlotState = 40;  // u32 in a member slot: 0 free, 1 member, 2 dead
constexpr uint32_t kSlotPid = 44;
constexpr uint32_t kSlotTid = 48;
constexpr uint32_t kSlotFree = 0, kSlotMember = 1, kSlotDead = 2;

// Results of lock operations, to JavaScript: undefined acquired (or unlocked), kAbandoned acquired after
// the previous owner died (already made consistent), otherwise a positive errno. Success returns no
// value at all: making a number costs a few nanoseconds of a call that costs ~25.
constexpr int kAbandoned = -1;
constexpr int kLockSpins = 100;  // glibc's default for adaptive mutexes (tunable glibc.mutex.spin_count)

// Wait modes and completion reasons, shared with src/native.ts.
constexpr int kModeValue = 0;  // wake when the word differs from `expected`
constexpr int kModeMutex = 1;  // wake when a robust mutex's word shows no owner (free or owner died)
constexpr int kChanged = 0, kTimedOut = 1;

struct FutexWaitv {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutex2Size32 = 0x02;
constexpr uint32_t kFutex2Private = 128;
constexpr size_t kWaitvMax = 128;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

pid_t MyTid() {
  thread_local const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  return tid;
}

int64_t NowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

timespec ToTimespec(int64_t ns) {
  timespec t;
  t.tv_sec = static_cast<time_t>(ns / 1000000000);
  t.tv_nsec = static_cast<long>(ns % 1000000000);
  return t;
}

// A timeout in milliseconds from JavaScript (negative: none) as an absolute CLOCK_MONOTONIC deadline
// in nanoseconds, or -1.
int64_t DeadlineNs(double timeout_ms) {
  if (!(timeout_ms >= 0)) return -1;
  double ns = timeout_ms * 1e6;
  if (ns > 1e17) return -1;  // three years: as good as none
  return NowNs() + static_cast<int64_t>(ns);
}

long FutexWait(uint32_t* addr, uint32_t val, const timespec* relative, bool is_private) {
  return syscall(SYS_futex, addr, is_private ? FUTEX_WAIT_PRIVATE : FUTEX_WAIT, val, relative, nullptr, 0);
}

long FutexWake(uint32_t* addr, int count, bool is_private) {
  return syscall(SYS_futex, addr, is_private ? FUTEX_WAKE_PRIVATE : FUTEX_WAKE, count, nullptr, nullptr, 0);
}

int InitMutex(pthread_mutex_t* m) {
  std::memset(static_cast<void*>(m), 0, sizeof(*m));
  pthread_mutexattr_t attr;
  int r = pthread_mutexattr_init(&attr);
  if (r != 0) return r;
  r = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (r == 0) r = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (r == 0) r = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  if (r == 0) r = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  return r;
}

// glibc's __kind for a robust, process-shared, error-checking mutex (146 on glibc 2.36 x86-64): every
// lock checks it, so that a corrupt or foreign mutex (a PI mutex, say) is refused, never used.
int ExpectedKind() {
  static const int kind = [] {
    pthread_mutex_t m;
    if (InitMutex(&m) != 0) return -1;
    int k = m.__data.__kind;
    pthread_mutex_destroy(&m);
    return k;
  }();
  return kind;
}

bool KindOk(pthread_mutex_t* m) { return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) == ExpectedKind(); }

uint32_t* LockWord(pthread_mutex_t* m) { return reinterpret_cast<uint32_t*>(&m->__data.__lock); }

// pthread_mutex_trylock, minus a glibc bug: on a robust mutex left not recoverable, glibc 2.36 returns
// ENOTRECOVERABLE but leaves the lock word holding our thread id (it compares the value it saw before
// its compare-and-swap, 0, with our id to decide whether to release). The word would then say "locked by
// this thread" forever, to everyone, with no robust-list entry for the kernel to clean up. If this
// thread held the mutex legitimately, trylock would have said EDEADLK instead, so a word with our id
// after ENOTRECOVERABLE is glibc's leftover: release it the way glibc's unlock does.
int TryLock(pthread_mutex_t* m) {
  int r = pthread_mutex_trylock(m);
  if (r == ENOTRECOVERABLE) {
    uint32_t* word = LockWord(m);
    uint32_t v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    if ((v & kTidMask) == static_cast<uint32_t>(MyTid()) && __atomic_compare_exchange_n(word, &v, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      if ((v & kFutexWaiters) != 0) FutexWake(word, 1, false);
    }
  }
  return r;
}

struct EnvSync;

struct Mapping {
  uint8_t* addr = nullptr;
  size_t len = 0;
  int guard = -1;
  EnvSync* es = nullptr;
  pthread_mutex_t* mutex = nullptr;  // the Mutex kind's lock, when this maps a mutex
  // References: the buffer (its deleter), the ops object (its finalizer), each pending async wait.
  std::atomic<int> refs{0};
  // Locks this thread took through this mapping and still holds. Touched by the owning JavaScript
  // thread only, and read by the last Drop (when no JavaScript can reach the mapping any more).
  std::atomic<int> mutex_held{0};
  std::atomic<int> slots_held{0};
};

void Drop(Mapping* m) {
  if (m->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (m->mutex_held.load() == 0 && m->slots_held.load() == 0) {
    sigbus::Unregister(m->guard);
    munmap(m->addr, m->len);
  }
  // else: this thread's robust list still runs through these pages (see the top of this file); they
  // stay mapped until the process ends.
  delete m;
}

void DropFromBuffer(void*, size_t, void* hint) { Drop(static_cast<Mapping*>(hint)); }

// ----- the waiter thread -----

struct Request {
  uint32_t id;
  Mapping* m;
  uint32_t* word;
  uint32_t expected;
  int mode;
  int64_t deadline;  // CLOCK_MONOTONIC ns, -1 none
};

struct Done {
  uint32_t id;
  int reason;
};

struct EnvSync {
  napi_env env = nullptr;
  napi_ref callback = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  std::thread thread;
  bool started = false;  // JavaScript thread only
  std::mutex mu;         // guards the three vectors and stop
  std::vector<Request> incoming;
  std::vector<uint32_t> cancels;
  std::vector<Done> done;
  bool stop = false;
  uint32_t ctrl = 0;  // private futex: bumped to wake the waiter thread
  std::atomic<bool> notify_pending{false};
  std::atomic<bool> use_waitv{true};
};

void Poke(EnvSync* es) {
  __atomic_fetch_add(&es->ctrl, 1, __ATOMIC_SEQ_CST);
  FutexWake(&es->ctrl, INT_MAX, true);
}

// Mutex mode: make sure the owner's unlock (or the kernel, at the owner's death) will wake us, the way
// glibc's waiters do: set FUTEX_WAITERS in the word. False when the word shows no owner: the caller
// should try the lock now.
bool Arm(Request& r) {
  uint32_t v = __atomic_load_n(r.word, __ATOMIC_SEQ_CST);
  for (;;) {
    if ((v & kTidMask) == 0) return false;
    if ((v & kFutexWaiters) != 0) {
      r.expected = v;
      return true;
    }
    if (__atomic_compare_exchange_n(r.word, &v, v | kFutexWaiters, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      r.expected = v | kFutexWaiters;
      return true;
    }
  }
}

// A mutex waiter that goes away may have consumed the wake meant for the next waiter (glibc wakes
// one): pass it on. A spurious wake is harmless to glibc's waiters and to ours.
void Retire(const Request& r) {
  if (r.mode == kModeMutex) FutexWake(r.word, 1, false);
  Drop(r.m);
}

void Deliver(EnvSync* es, std::vector<Done>& finished) {
  if (finished.empty()) return;
  {
    std::lock_guard<std::mutex> lock(es->mu);
    es->done.insert(es->done.end(), finished.begin(), finished.end());
  }
  finished.clear();
  if (!es->notify_pending.exchange(true)) napi_call_threadsafe_function(es->tsfn, nullptr, napi_tsfn_nonblocking);
}

void Run(EnvSync* es) {
  std::vector<Request> active;
  std::vector<Done> finished;
  std::vector<FutexWaitv> waitv;
  for (;;) {
    const uint32_t seq = __atomic_load_n(&es->ctrl, __ATOMIC_SEQ_CST);
    {
      std::lock_guard<std::mutex> lock(es->mu);
      if (es->stop) break;
      active.insert(active.end(), es->incoming.begin(), es->incoming.end());
      es->incoming.clear();
      for (uint32_t id : es->cancels) {
        auto it = std::find_if(active.begin(), active.end(), [id](const Request& r) { return r.id == id; });
        if (it == active.end()) continue;  // completed meanwhile
        Retire(*it);
        active.erase(it);
      }
      es->cancels.clear();
    }
    const int64_t now = NowNs();
    int64_t earliest = INT64_MAX;
    for (size_t i = 0; i < active.size();) {
      Request& r = active[i];
      int reason = -1;
      if (r.deadline >= 0 && now >= r.deadline) {
        reason = kTimedOut;
      } else if (r.mode == kModeValue) {
        if (__atomic_load_n(r.word, __ATOMIC_SEQ_CST) != r.expected) reason = kChanged;
      } else if (!Arm(r)) {
        reason = kChanged;
      }
      if (reason >= 0) {
        finished.push_back({r.id, reason});
        Drop(r.m);  // the JavaScript side acts on the word now (and passes a wake on if it gives up)
        active[i] = active.back();
        active.pop_back();
        continue;
      }
      if (r.deadline >= 0) earliest = std::min(earliest, r.deadline);
      i++;
    }
    Deliver(es, finished);

    bool poll = !es->use_waitv.load();
    waitv.clear();
    waitv.push_back({seq, reinterpret_cast<uint64_t>(&es->ctrl), kFutex2Size32 | kFutex2Private, 0});
    for (const Request& r : active) {
      const uint64_t addr = reinterpret_cast<uint64_t>(r.word);
      if (std::any_of(waitv.begin(), waitv.end(), [addr](const FutexWaitv& w) { return w.uaddr == addr; })) continue;
      if (waitv.size() == kWaitvMax) {
        poll = true;  // more distinct words than one futex_waitv takes: check the rest every millisecond
        break;
      }
      waitv.push_back({r.expected, addr, kFutex2Size32, 0});
    }
    if (poll) earliest = std::min(earliest, now + 1000000);
    if (es->use_waitv.load()) {
      timespec abs = ToTimespec(earliest);
      long rc = syscall(SYS_futex_waitv, waitv.data(), static_cast<unsigned>(waitv.size()), 0,
                        earliest == INT64_MAX ? nullptr : &abs, CLOCK_MONOTONIC);
      if (rc < 0 && errno == ENOSYS) es->use_waitv.store(false);  // Linux < 5.16: poll instead
    } else {
      // No futex_waitv: sleep on the control word alone and look at the words every millisecond.
      int64_t until = std::min(earliest, NowNs() + 1000000);
      timespec rel = ToTimespec(std::max<int64_t>(0, until - NowNs()));
      FutexWait(&es->ctrl, seq, &rel, true);
    }
  }
  for (const Request& r : active) Retire(r);
  std::lock_guard<std::mutex> lock(es->mu);
  for (const Request& r : es->incoming) Retire(r);
  es->incoming.clear();
}

void CallJs(napi_env env, napi_value, void* context, void*) {
  auto* es = static_cast<EnvSync*>(context);
  es->notify_pending.store(false);
  if (env == nullptr || es->callback == nullptr) return;
  std::vector<Done> done;
  {
    std::lock_guard<std::mutex> lock(es->mu);
    done.swap(es->done);
  }
  napi_value callback, global;
  if (napi_get_reference_value(env, es->callback, &callback) != napi_ok || callback == nullptr) return;
  napi_get_global(env, &global);
  for (const Done& d : done) {
    napi_value argv[2];
    napi_create_uint32(env, d.id, &argv[0]);
    napi_create_int32(env, d.reason, &argv[1]);
    napi_value ignored;
    // The callback (src/sync/waiter.ts) settles promises and does not throw; if it did, Node reports it.
    napi_call_function(env, global, callback, 2, argv, &ignored);
  }
}

// Runs before the threadsafe function's own cleanup (hooks run in reverse order of registration, and
// this one is added after the function is made): stop and join the thread, then let the function go.
// worker.terminate() and the end of the main thread both come through here.
void Cleanup(void* arg) {
  auto* es = static_cast<EnvSync*>(arg);
  {
    std::lock_guard<std::mutex> lock(es->mu);
    es->stop = true;
  }
  Poke(es);
  if (es->thread.joinable()) es->thread.join();
  napi_release_threadsafe_function(es->tsfn, napi_tsfn_abort);
  es->tsfn = nullptr;
  // es itself is not freed: finalizers of this environment's objects may still run after this hook.
}

bool StartWaiter(napi_env env, EnvSync* es) {
  if (es->started) return true;
  if (es->callback == nullptr) return false;
  napi_value name;
  napi_create_string_utf8(env, "ndshm sync waiter", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, es, CallJs, &es->tsfn) != napi_ok) {
    return false;
  }
  napi_unref_threadsafe_function(env, es->tsfn);  // src/sync/waiter.ts refs it while waits are pending
  if (std::getenv("NDSHM_SYNC_POLL") != nullptr) es->use_waitv.store(false);
  es->thread = std::thread(Run, es);
  napi_add_env_cleanup_hook(env, Cleanup, es);
  es->started = true;
  return true;
}

// ----- Node-API glue -----

napi_value Int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

template <size_t N>
void* Args(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  for (size_t i = argc; i < N; i++) napi_get_undefined(env, &argv[i]);
  return data;
}

Mapping* Data(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data);
  return static_cast<Mapping*>(data);
}

double Num(napi_env env, napi_value v, double fallback = -1) {
  double d;
  return napi_get_value_double(env, v, &d) == napi_ok ? d : fallback;
}

// A byte offset from JavaScript, checked against the mapping: `size` bytes at `align`.
uint8_t* At(Mapping* m, napi_env env, napi_value v, size_t size, size_t align) {
  double d = Num(env, v);
  if (!(d >= 0) || d != static_cast<double>(static_cast<uint64_t>(d))) return nullptr;
  uint64_t off = static_cast<uint64_t>(d);
  if (off % align != 0 || off > m->len || size > m->len - off) return nullptr;
  return m->addr + off;
}

napi_value Result(napi_env env, int r) { return r == 0 ? nullptr : Int(env, r); }

int Acquired(Mapping* m, pthread_mutex_t* mx, int r) {
  if (r == EOWNERDEAD) {
    pthread_mutex_consistent(mx);
    r = kAbandoned;
  } else if (r != 0) {
    return r;
  }
  m->mutex_held.store(1, std::memory_order_relaxed);
  return r;
}

// Spin a little before sleeping, as glibc's adaptive mutexes do (robust ones never spin): a holder on
// another CPU usually lets go within a few hundred nanoseconds, and a futex sleep costs microseconds.
int SpinThenLock(pthread_mutex_t* mx, int64_t deadline) {
  int r = TryLock(mx);
  for (int spin = 0; r == EBUSY && spin < kLockSpins; spin++) {
    CpuRelax();
    if ((__atomic_load_n(LockWord(mx), __ATOMIC_RELAXED) & kTidMask) == 0) r = TryLock(mx);
  }
  if (r != EBUSY) return r;  // taken (or an error, or EDEADLK) without sleeping
  if (deadline < 0) return pthread_mutex_lock(mx);
  timespec abs = ToTimespec(deadline);
  return pthread_mutex_clocklock(mx, CLOCK_MONOTONIC, &abs);
}

// lock(timeoutMs) -> undefined | -1 (abandoned) | errno. Blocks this thread; timeoutMs < 0 waits forever.
napi_value Op_lock(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  pthread_mutex_t* mx = m->mutex;
  if (mx == nullptr || !KindOk(mx)) return Int(env, EINVAL);
  return Result(env, Acquired(m, mx, SpinThenLock(mx, DeadlineNs(Num(env, argv[0])))));
}

// lockNow(): lock(-1) without an argument to read (the common lockSync()).
napi_value Op_lockNow(napi_env env, napi_callback_info info) {
  Mapping* m = Data(env, info);
  pthread_mutex_t* mx = m->mutex;
  if (mx == nullptr || !KindOk(mx)) return Int(env, EINVAL);
  return Result(env, Acquired(m, mx, SpinThenLock(mx, -1)));
}

napi_value TryLockOp(napi_env env, napi_callback_info info, bool after_wait) {
  Mapping* m = Data(env, info);
  pthread_mutex_t* mx = m->mutex;
  if (mx == nullptr || !KindOk(mx)) return Int(env, EINVAL);
  int r = Acquired(m, mx, TryLock(mx));
  // Taken after a wait: other waiters may sleep on the word and our wake may have been theirs. Keep
  // FUTEX_WAITERS set, as glibc does for a lock taken after waiting, so that our unlock wakes one.
  if (after_wait && (r == 0 || r == kAbandoned)) __atomic_fetch_or(LockWord(mx), kFutexWaiters, __ATOMIC_SEQ_CST);
  return Result(env, r);
}

// tryLock() -> undefined | -1 | EBUSY | errno; tryLockWaited(): the same, after an asynchronous wait.
napi_value Op_tryLock(napi_env env, napi_callback_info info) { return TryLockOp(env, info, false); }
napi_value Op_tryLockWaited(napi_env env, napi_callback_info info) { return TryLockOp(env, info, true); }

// unlock() -> undefined | EPERM (this thread did not lock it through this mapping) | errno
napi_value Op_unlock(napi_env env, napi_callback_info info) {
  Mapping* m = Data(env, info);
  pthread_mutex_t* mx = m->mutex;
  if (mx == nullptr) return Int(env, EINVAL);
  // Never let glibc look for a mutex this thread did not enqueue through this address: it would walk
  // its robust list past the end.
  if (m->mutex_held.load(std::memory_order_relaxed) == 0) return Int(env, EPERM);
  int r = pthread_mutex_unlock(mx);
  if (r == 0) m->mutex_held.store(0, std::memory_order_relaxed);
  return Result(env, r);
}

// initMutex() -> 0 | errno (the creator, before the segment is published)
napi_value Op_initMutex(napi_env env, napi_callback_info info) {
  Mapping* m = Data(env, info);
  if (m->mutex == nullptr) return Int(env, EINVAL);
  return Int(env, InitMutex(m->mutex));
}

// checkMutex() -> true when the bytes hold a mutex of the kind ndshm makes
napi_value Op_checkMutex(napi_env env, napi_callback_info info) {
  Mapping* m = Data(env, info);
  napi_value r;
  napi_get_boolean(env, m->mutex != nullptr && KindOk(m->mutex), &r);
  return r;
}

// heldHere() -> true while this thread holds the mutex through this mapping
napi_value Op_heldHere(napi_env env, napi_callback_info info) {
  Mapping* m = Data(env, info);
  napi_value r;
  napi_get_boolean(env, m->mutex_held.load(std::memory_order_relaxed) != 0, &r);
  return r;
}

// wait(offset, expected, timeoutMs) -> 0 (woken) | EAGAIN (the word differed) | ETIMEDOUT | EINTR
// Blocks this thread on a shared futex word.
napi_value Op_wait(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  auto* word = reinterpret_cast<uint32_t*>(At(m, env, argv[0], 4, 4));
  if (word == nullptr) return Int(env, EINVAL);
  int32_t expected = 0;
  napi_get_value_int32(env, argv[1], &expected);
  double ms = Num(env, argv[2]);
  timespec rel;
  bool timed = ms >= 0 && ms < 1e11;
  if (timed) rel = ToTimespec(static_cast<int64_t>(ms * 1e6));
  long rc = FutexWait(word, static_cast<uint32_t>(expected), timed ? &rel : nullptr, false);
  return Int(env, rc == 0 ? 0 : errno);
}

// wake(offset, count) -> the number of waiters woken, or -errno
napi_value Op_wake(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  auto* word = reinterpret_cast<uint32_t*>(At(m, env, argv[0], 4, 4));
  if (word == nullptr) return Int(env, -EINVAL);
  double n = Num(env, argv[1], 1);
  int count = n >= INT_MAX ? INT_MAX : n < 1 ? 1 : static_cast<int>(n);
  long rc = FutexWake(word, count, false);
  return Int(env, rc >= 0 ? rc : -errno);
}

// waitAsync(offset, expected, mode, timeoutMs, id) -> 0 | errno. The waiter thread calls the sync
// callback with (id, reason) once: reason 0 the word changed (mode 0) or shows no owner (mode 1, the
// offset is the mutex's), 1 the timeout passed. syncCancel(id) withdraws it without a call.
napi_value Op_waitAsync(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  int32_t mode = 0, expected = 0;
  uint32_t id = 0;
  napi_get_value_int32(env, argv[2], &mode);
  napi_get_value_int32(env, argv[1], &expected);
  napi_get_value_uint32(env, argv[4], &id);
  uint8_t* at = At(m, env, argv[0], mode == kModeMutex ? sizeof(pthread_mutex_t) : 4, mode == kModeMutex ? 8 : 4);
  if (at == nullptr || (mode != kModeValue && mode != kModeMutex)) return Int(env, EINVAL);
  if (mode == kModeMutex && !KindOk(reinterpret_cast<pthread_mutex_t*>(at))) return Int(env, EINVAL);
  EnvSync* es = m->es;
  if (!StartWaiter(env, es)) return Int(env, EAGAIN);
  m->refs.fetch_add(1, std::memory_order_relaxed);
  Request r{id, m, reinterpret_cast<uint32_t*>(at), static_cast<uint32_t>(expected), mode, DeadlineNs(Num(env, argv[3]))};
  {
    std::lock_guard<std::mutex> lock(es->mu);
    es->incoming.push_back(r);
  }
  Poke(es);
  return Int(env, 0);
}

pthread_mutex_t* SlotMutex(uint8_t* slots, uint32_t i) { return reinterpret_cast<pthread_mutex_t*>(slots + i * kSlotStride); }
uint32_t* SlotWord(uint8_t* slots, uint32_t i, uint32_t field) { return reinterpret_cast<uint32_t*>(slots + i * kSlotStride + field); }

uint8_t* Slots(Mapping* m, napi_env env, napi_value offset, napi_value count, uint32_t* n) {
  double c = Num(env, count);
  if (!(c >= 1 && c <= 65536) || c != static_cast<double>(static_cast<uint32_t>(c))) return nullptr;
  *n = static_cast<uint32_t>(c);
  return At(m, env, offset, static_cast<size_t>(*n) * kSlotStride, 8);
}

// initSlots(offset, count) -> 0 | errno (the creator)
napi_value Op_initSlots(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  uint32_t n = 0;
  uint8_t* slots = Slots(m, env, argv[0], argv[1], &n);
  if (slots == nullptr) return Int(env, EINVAL);
  for (uint32_t i = 0; i < n; i++) {
    std::memset(slots + i * kSlotStride, 0, kSlotStride);
    int r = InitMutex(SlotMutex(slots, i));
    if (r != 0) return Int(env, r);
  }
  return Int(env, 0);
}

// join(offset, count, pid) -> the slot taken (its alive mutex now held by this thread) | -1 all taken
// | -2 a slot is corrupt. The mutex is locked before the slot says "member", so a member slot's mutex
// is always held by a live member or owned by a dead one.
napi_value Op_join(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  uint32_t n = 0;
  uint8_t* slots = Slots(m, env, argv[0], argv[1], &n);
  if (slots == nullptr) return Int(env, -2);
  uint32_t pid = static_cast<uint32_t>(Num(env, argv[2], 0));
  for (uint32_t i = 0; i < n; i++) {
    uint32_t* state = SlotWord(slots, i, kSlotState);
    if (__atomic_load_n(state, __ATOMIC_SEQ_CST) != kSlotFree) continue;
    pthread_mutex_t* mx = SlotMutex(slots, i);
    if (!KindOk(mx)) return Int(env, -2);
    int r = TryLock(mx);
    if (r == EOWNERDEAD) {  // a joiner died between its lock and its claim
      pthread_mutex_consistent(mx);
      r = 0;
    }
    if (r != 0) continue;
    uint32_t expected = kSlotFree;
    if (!__atomic_compare_exchange_n(state, &expected, kSlotMember, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      pthread_mutex_unlock(mx);
      continue;
    }
    __atomic_store_n(SlotWord(slots, i, kSlotPid), pid, __ATOMIC_SEQ_CST);
    __atomic_store_n(SlotWord(slots, i, kSlotTid), static_cast<uint32_t>(MyTid()), __ATOMIC_SEQ_CST);
    m->slots_held.fetch_add(1, std::memory_order_relaxed);
    return Int(env, i);
  }
  return Int(env, -1);
}

// leave(offset, index) -> 0 | errno: the slot is free again and its mutex unlocked.
napi_value Op_leave(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  double d = Num(env, argv[1]);
  if (!(d >= 0 && d < 65536) || m->slots_held.load(std::memory_order_relaxed) == 0) return Int(env, EINVAL);
  uint32_t i = static_cast<uint32_t>(d);
  napi_value one;
  napi_create_uint32(env, i + 1, &one);
  uint32_t n = 0;
  uint8_t* slots = Slots(m, env, argv[0], one, &n);
  if (slots == nullptr) return Int(env, EINVAL);
  pthread_mutex_t* mx = SlotMutex(slots, i);
  if ((__atomic_load_n(LockWord(mx), __ATOMIC_SEQ_CST) & kTidMask) != static_cast<uint32_t>(MyTid())) return Int(env, EPERM);
  uint32_t expected = kSlotMember;
  __atomic_compare_exchange_n(SlotWord(slots, i, kSlotState), &expected, kSlotFree, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  int r = pthread_mutex_unlock(mx);
  if (r == 0) m->slots_held.fetch_sub(1, std::memory_order_relaxed);
  return Int(env, r);
}

// scan(offset, count) -> the index of a dead member's slot, or -1 when every member is alive. A member
// is dead when its alive mutex is owner-dead (trylock: EOWNERDEAD); the scanner then marks the slot
// dead, makes the mutex consistent and unlocks it. This thread's own slots are skipped.
napi_value Op_scan(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Mapping* m = static_cast<Mapping*>(Args(env, info, argv));
  uint32_t n = 0;
  uint8_t* slots = Slots(m, env, argv[0], argv[1], &n);
  if (slots == nullptr) return Int(env, -2);
  const uint32_t me = static_cast<uint32_t>(MyTid());
  for (uint32_t i = 0; i < n; i++) {
    uint32_t* state = SlotWord(slots, i, kSlotState);
    uint32_t s = __atomic_load_n(state, __ATOMIC_SEQ_CST);
    if (s == kSlotDead) return Int(env, i);
    if (s != kSlotMember) continue;
    pthread_mutex_t* mx = SlotMutex(slots, i);
    if (!KindOk(mx)) return Int(env, -2);
    if ((__atomic_load_n(LockWord(mx), __ATOMIC_SEQ_CST) & kTidMask) == me) continue;
    int r = TryLock(mx);
    if (r == EBUSY || r == EDEADLK) continue;
    if (r == 0) {  // the member left while we looked
      pthread_mutex_unlock(mx);
      continue;
    }
    if (r == EOWNERDEAD) {
      __atomic_store_n(state, kSlotDead, __ATOMIC_SEQ_CST);
      pthread_mutex_consistent(mx);
      pthread_mutex_unlock(mx);
      return Int(env, i);
    }
    if (r == ENOTRECOVERABLE) {
      __atomic_store_n(state, kSlotDead, __ATOMIC_SEQ_CST);
      return Int(env, i);
    }
  }
  return Int(env, -1);
}

void FinalizeOps(napi_env, void* data, void*) { Drop(static_cast<Mapping*>(data)); }

#define OP(name) {#name, nullptr, Op_##name, nullptr, nullptr, nullptr, napi_default, m}

// syncMap(segmentBuffer, route, mutexOffset) -> { buffer, ops, route } | errno
// Maps the segment buffer's pages a second time and wraps them; mutexOffset < 0: no Mutex lock.
napi_value JS_syncMap(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  auto* es = static_cast<EnvSync*>(Args(env, info, argv));
  void* data = nullptr;
  size_t len = 0;
  if (napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok || data == nullptr || len == 0) {
    return Int(env, EINVAL);
  }
  int32_t route = 0;
  napi_get_value_int32(env, argv[1], &route);
  void* addr = mremap(data, 0, len, MREMAP_MAYMOVE);
  if (addr == MAP_FAILED) return Int(env, errno);
  auto* m = new Mapping();
  m->addr = static_cast<uint8_t*>(addr);
  m->len = len;
  m->es = es;
  m->guard = sigbus::Register(addr, len, -1);
  double mo = Num(env, argv[2]);
  if (mo >= 0) {
    m->mutex = reinterpret_cast<pthread_mutex_t*>(At(m, env, argv[2], sizeof(pthread_mutex_t), 8));
    if (m->mutex == nullptr) {
      sigbus::Unregister(m->guard);
      munmap(addr, len);
      delete m;
      return Int(env, EINVAL);
    }
  }
  m->refs.store(2);
  napi_value buffer;
  shared::Route taken = shared::New(env, static_cast<shared::Route>(route), addr, len, DropFromBuffer, m, &buffer);
  if (taken == shared::kNone) {
    sigbus::Unregister(m->guard);
    munmap(addr, len);
    delete m;
    return Int(env, ENOTSUP);
  }
  napi_value ops;
  napi_create_object(env, &ops);
  const napi_property_descriptor props[] = {
      OP(lock),     OP(lockNow),   OP(tryLock),   OP(tryLockWaited), OP(unlock), OP(initMutex), OP(checkMutex),
      OP(heldHere), OP(wait),      OP(wake),          OP(waitAsync), OP(initSlots), OP(join),
      OP(leave),    OP(scan),
  };
  napi_define_properties(env, ops, sizeof(props) / sizeof(props[0]), props);
  napi_add_finalizer(env, ops, m, FinalizeOps, nullptr, nullptr);
  napi_value result, r;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "buffer", buffer);
  napi_set_named_property(env, result, "ops", ops);
  napi_create_int32(env, taken, &r);
  napi_set_named_property(env, result, "route", r);
  return result;
}

#undef OP

// syncCallback(fn): the function the waiter thread's completions are delivered to, as fn(id, reason).
napi_value JS_syncCallback(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  auto* es = static_cast<EnvSync*>(Args(env, info, argv));
  if (es->callback != nullptr) napi_delete_reference(env, es->callback);
  napi_create_reference(env, argv[0], 1, &es->callback);
  return nullptr;
}

// syncCancel(id): withdraws a pending waitAsync; no completion is delivered for it afterwards.
napi_value JS_syncCancel(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  auto* es = static_cast<EnvSync*>(Args(env, info, argv));
  uint32_t id = 0;
  napi_get_value_uint32(env, argv[0], &id);
  if (!es->started) return nullptr;
  {
    std::lock_guard<std::mutex> lock(es->mu);
    auto it = std::find_if(es->incoming.begin(), es->incoming.end(), [id](const Request& r) { return r.id == id; });
    if (it != es->incoming.end()) {
      Retire(*it);
      es->incoming.erase(it);
    } else {
      es->cancels.push_back(id);
    }
    // A completion already queued for it is dropped by src/sync/waiter.ts (it no longer knows the id).
  }
  Poke(es);
  return nullptr;
}

// syncRef(on): while on, the waiter keeps the event loop alive (pending waits, like pending timers).
napi_value JS_syncRef(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  auto* es = static_cast<EnvSync*>(Args(env, info, argv));
  bool on = false;
  napi_get_value_bool(env, argv[0], &on);
  if (es->tsfn != nullptr) {
    if (on) {
      napi_ref_threadsafe_function(env, es->tsfn);
    } else {
      napi_unref_threadsafe_function(env, es->tsfn);
    }
  }
  return nullptr;
}

// syncInfo() -> { routes: bitmask of shared::Route, mutexSize, mutexKind, waitv }
napi_value JS_syncInfo(napi_env env, napi_callback_info) {
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "routes", Int(env, shared::Available()));
  napi_set_named_property(env, result, "mutexSize", Int(env, sizeof(pthread_mutex_t)));
  napi_set_named_property(env, result, "mutexKind", Int(env, ExpectedKind()));
  // futex_waitv with no waiters: EINVAL where the call exists, ENOSYS where it does not.
  long rc = syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, CLOCK_MONOTONIC);
  napi_value waitv;
  napi_get_boolean(env, !(rc < 0 && errno == ENOSYS) && std::getenv("NDSHM_SYNC_POLL") == nullptr, &waitv);
  napi_set_named_property(env, result, "waitv", waitv);
  return result;
}

}  // namespace
}  // namespace sync

void RegisterSync(napi_env env, napi_value exports) {
  // One per environment (main thread, each worker); never freed (see Cleanup).
  auto* es = new sync::EnvSync();
  es->env = env;
  const napi_property_descriptor props[] = {
      {"syncMap", nullptr, sync::JS_syncMap, nullptr, nullptr, nullptr, napi_enumerable, es},
      {"syncCallback", nullptr, sync::JS_syncCallback, nullptr, nullptr, nullptr, napi_enumerable, es},
      {"syncCancel", nullptr, sync::JS_syncCancel, nullptr, nullptr, nullptr, napi_enumerable, es},
      {"syncRef", nullptr, sync::JS_syncRef, nullptr, nullptr, nullptr, napi_enumerable, es},
      {"syncInfo", nullptr, sync::JS_syncInfo, nullptr, nullptr, nullptr, napi_enumerable, es},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}

}  // namespace ndshm
