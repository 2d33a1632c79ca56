// POSIX shared-memory core: plain C++ on plain data, no Node-API. Every function returns an errno
// value (0 on success) and the name of the syscall that failed; policy and messages live in TypeScript.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ndshm {

struct Failure {
  int err = 0;                  // errno value, 0 on success
  const char* syscall = nullptr;
};

struct Mapped {
  Failure failure;
  void* addr = nullptr;         // nullptr for zero-size segments
  size_t len = 0;               // also set when the object is too large to map (EFBIG)
  int fd = -1;
  uint64_t ino = 0;
  uint32_t uid = 0;
};

struct Stat {
  Failure failure;
  uint64_t size = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint64_t ino = 0;
  uint64_t nlink = 0;
};

// shm_open(O_CREAT|O_EXCL), exact mode, posix_fallocate (space is reserved now, so a full /dev/shm is
// ENOSPC here and never SIGBUS later), mmap shared read-write. On failure nothing is left behind.
Mapped CreateAndMap(const std::string& name, uint64_t size, unsigned mode, uint64_t max_len);

// Attach an existing object; its size comes from fstat. read_only opens O_RDONLY and maps the bytes
// copy-on-write (MAP_PRIVATE), so no write through this mapping can reach the shared object. The open
// never blocks (O_NONBLOCK: a FIFO under the name would otherwise hang a read-only open), and anything
// but a regular file is refused with ENODEV from "fstat".
Mapped OpenAndMap(const std::string& name, bool read_only, uint64_t max_len);

Failure Unmap(void* addr, size_t len, int fd);
// renameat2(2): flags 0 (replace), RENAME_NOREPLACE (1: EEXIST if `to` exists) or RENAME_EXCHANGE
// (2: swap the two names atomically; ENOENT if `to` does not exist). Paths, not segment names.
Failure Rename(const std::string& from, const std::string& to, unsigned flags);
Stat FstatFd(int fd);

}  // namespace ndshm
