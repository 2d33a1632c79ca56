#include "shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace ndshm {
namespace {

std::string ShmPath(const std::string& name) { return "/" + name; }

Failure Fail(const char* syscall, int err) { return Failure{err, syscall}; }

}  // namespace

Mapped CreateAndMap(const std::string& name, uint64_t size, unsigned mode, uint64_t max_len) {
  Mapped m;
  if (size > max_len) {
    m.failure = Fail("mmap", EFBIG);
    return m;
  }
  const std::string path = ShmPath(name);
  int fd = shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, mode);
  if (fd < 0) {
    m.failure = Fail("shm_open", errno);
    return m;
  }
  auto undo = [&](const char* syscall, int err) {
    close(fd);
    shm_unlink(path.c_str());
    m.failure = Fail(syscall, err);
    return m;
  };
  // shm_open filters the mode through the umask; the caller asked for this exact mode.
  if (fchmod(fd, mode) != 0) return undo("fchmod", errno);
  if (size > 0) {
    int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (err != 0) return undo("posix_fallocate", err);
    void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) return undo("mmap", errno);
    m.addr = addr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    if (m.addr != nullptr) munmap(m.addr, size);
    return undo("fstat", err);
  }
  m.len = size;
  m.fd = fd;
  m.ino = st.st_ino;
  m.uid = st.st_uid;
  return m;
}

Mapped OpenAndMap(const std::string& name, bool read_only, uint64_t max_len) {
  Mapped m;
  const std::string path = ShmPath(name);
  int fd = shm_open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    m.failure = Fail("shm_open", errno);
    return m;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    m.failure = Fail("fstat", errno);
    close(fd);
    return m;
  }
  if (!S_ISREG(st.st_mode)) {
    m.failure = Fail("fstat", ENODEV);
    close(fd);
    return m;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  m.len = size;
  m.uid = st.st_uid;
  if (size > max_len) {
    m.failure = Fail("mmap", EFBIG);
    close(fd);
    return m;
  }
  if (size > 0) {
    // A read-only attach is copy-on-write: a stray write through a typed array stays private to this
    // process instead of faulting (V8 cannot turn a SIGSEGV into an exception).
    int prot = PROT_READ | PROT_WRITE;
    int flags = read_only ? (MAP_PRIVATE | MAP_NORESERVE) : MAP_SHARED;
    void* addr = mmap(nullptr, size, prot, flags, fd, 0);
    if (addr == MAP_FAILED) {
      m.failure = Fail("mmap", errno);
      close(fd);
      return m;
    }
    m.addr = addr;
  }
  m.fd = fd;
  m.ino = st.st_ino;
  return m;
}

Failure Unmap(void* addr, size_t len, int fd) {
  Failure f;
  if (addr != nullptr && munmap(addr, len) != 0) f = Fail("munmap", errno);
  if (fd >= 0 && close(fd) != 0 && f.err == 0) f = Fail("close", errno);
  return f;
}

Failure Rename(const std::string& from, const std::string& to, unsigned flags) {
  if (syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags) != 0) return Fail("renameat2", errno);
  return Failure{};
}

Stat FstatFd(int fd) {
  Stat s;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    s.failure = Fail("fstat", errno);
    return s;
  }
  s.size = static_cast<uint64_t>(st.st_size);
  s.mode = st.st_mode & 07777;
  s.uid = st.st_uid;
  s.ino = st.st_ino;
  s.nlink = st.st_nlink;
  return s;
}

}  // namespace ndshm
