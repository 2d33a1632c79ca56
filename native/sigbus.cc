#include "sigbus.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ndshm::sigbus {
namespace {

// Fixed-size, lock-free for readers: the handler scans slots without taking a lock (it may interrupt a
// thread that holds one). 65,536 slots of 32 bytes live in BSS and cost nothing until used.
constexpr int kSlots = 1 << 16;

struct Slot {
  std::atomic<uintptr_t> start{0};
  std::atomic<size_t> len{0};
  std::atomic<int> fd{-1};
  std::atomic<int> fault{kNone};
};

Slot g_slots[kSlots];
std::atomic<int> g_high{0};  // slots [0, g_high) have been used at least once
std::mutex g_mu;             // guards g_free and slot assignment (never taken by the handler)
std::vector<int> g_free;
struct sigaction g_previous;
uintptr_t g_page = 4096;
std::once_flag g_once;

void Handler(int sig, siginfo_t* info, void* context) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  const int high = g_high.load(std::memory_order_acquire);
  for (int i = 0; i < high; i++) {
    Slot& s = g_slots[i];
    const uintptr_t start = s.start.load(std::memory_order_acquire);
    const size_t len = s.len.load(std::memory_order_acquire);
    if (start == 0 || addr < start || addr >= start + len) continue;
    const uintptr_t page = addr & ~(g_page - 1);
    uintptr_t from = page;
    uintptr_t to = page + g_page;
    int fault = kUnbacked;
    struct stat st;
    if (fstat(s.fd.load(std::memory_order_acquire), &st) == 0 &&
        static_cast<uintptr_t>(st.st_size) <= addr - start) {
      // Truncated: every page past the new end would fault; cover them all at once.
      fault = kTruncated;
      uintptr_t end = start + ((static_cast<uintptr_t>(st.st_size) + g_page - 1) & ~(g_page - 1));
      from = end < page ? end : page;
      to = start + ((len + g_page - 1) & ~(g_page - 1));
    }
    void* r = mmap(reinterpret_cast<void*>(from), to - from, PROT_READ | PROT_WRITE,
                   MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r != MAP_FAILED) {
      s.fault.store(fault, std::memory_order_release);
      return;
    }
    break;
  }
  // Not ours (or the repair failed): hand the signal to whoever had it before us.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, context);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default disposition: restore it and return; the faulting instruction runs again and terminates
  // the process exactly as it would have without us.
  sigaction(SIGBUS, &g_previous, nullptr);
}

}  // namespace

void Install() {
  std::call_once(g_once, [] {
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0) g_page = static_cast<uintptr_t>(page);
    struct sigaction sa = {};
    sa.sa_sigaction = Handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_previous);
  });
}

int Register(void* addr, size_t len, int fd) {
  if (addr == nullptr || len == 0) return -1;
  std::lock_guard<std::mutex> lock(g_mu);
  int slot;
  if (!g_free.empty()) {
    slot = g_free.back();
    g_free.pop_back();
  } else {
    slot = g_high.load(std::memory_order_relaxed);
    if (slot >= kSlots) return -1;
  }
  Slot& s = g_slots[slot];
  s.fault.store(kNone, std::memory_order_relaxed);
  s.fd.store(fd, std::memory_order_relaxed);
  s.len.store(len, std::memory_order_relaxed);
  s.start.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_release);
  if (slot == g_high.load(std::memory_order_relaxed)) g_high.store(slot + 1, std::memory_order_release);
  return slot;
}

void Unregister(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  std::lock_guard<std::mutex> lock(g_mu);
  g_slots[slot].start.store(0, std::memory_order_release);
  g_free.push_back(slot);
}

int FaultOf(int slot) {
  if (slot < 0 || slot >= kSlots) return kNone;
  return g_slots[slot].fault.load(std::memory_order_acquire);
}

}  // namespace ndshm::sigbus
