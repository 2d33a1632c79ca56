// copyFromFile: bytes of a file into a mapped segment, for the .npy/.npz/HDF5 loaders.
//
// sendfile(2) from the file's descriptor into the segment's own descriptor (the one the mapping holds)
// copies page-cache pages into the tmpfs pages inside the kernel: no user-space page faults, which is
// what makes a load faster than touching the memory through the mapping. pread(2) straight into the
// mapping is the fallback when the kernel refuses sendfile. Like the rest of the addon this checks
// only what memory safety needs (the range lies inside the buffer) and words no messages: TypeScript
// decides about fallbacks, chunks, progress and errors.
#include "copy.h"

#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>

namespace ndshm {
namespace {

// Syscall ids shared with src/native.ts (copySyscalls).
enum CopySyscall : int { kNone, kSendfile, kLseek, kPread, kNoDescriptor, kBadArgument };

// Linux moves at most this much per sendfile/read call.
constexpr uint64_t kMaxPerCall = 0x7ffff000;

bool SafeInteger(napi_env env, napi_value v, uint64_t* out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!std::isfinite(d) || d < 0 || d > 9007199254740991.0 || std::floor(d) != d) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

napi_value Result(napi_env env, uint64_t copied, int err, int syscall) {
  napi_value a, v;
  napi_create_array_with_length(env, 3, &a);
  napi_create_double(env, static_cast<double>(copied), &v);
  napi_set_element(env, a, 0, v);
  napi_create_int32(env, err, &v);
  napi_set_element(env, a, 1, v);
  napi_create_int32(env, syscall, &v);
  napi_set_element(env, a, 2, v);
  return a;
}

// copyFromFile(buffer, at, fd, position, length, how) -> [copied, errno, syscall]
//   buffer: a mapping's ArrayBuffer (as Segment.buffer gives it); the bytes go to [at, at + length).
//   fd, position: the file and where in it to start. how: 0 sendfile, 1 pread.
// Copies until `length` bytes are done, the file ends (copied < length, errno 0) or a call fails
// (errno and syscall say which; copied counts what landed before).
napi_value JS_copyFromFile(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool is_buffer = false;
  if (argc < 6 || napi_is_arraybuffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) return Result(env, 0, EINVAL, kBadArgument);
  void* data = nullptr;
  size_t byte_length = 0;
  napi_get_arraybuffer_info(env, argv[0], &data, &byte_length);
  uint64_t at = 0, fd = 0, position = 0, length = 0, how = 0;
  if (!SafeInteger(env, argv[1], &at) || !SafeInteger(env, argv[2], &fd) || !SafeInteger(env, argv[3], &position) ||
      !SafeInteger(env, argv[4], &length) || !SafeInteger(env, argv[5], &how) || fd > INT32_MAX || how > 1) {
    return Result(env, 0, EINVAL, kBadArgument);
  }
  if (at > byte_length || length > byte_length - at) return Result(env, 0, ERANGE, kBadArgument);
  if (length == 0) return Result(env, 0, 0, kNone);
  const int in = static_cast<int>(fd);
  uint64_t done = 0;

  if (how == 0) {
    const int out = MappingFd(env, data, byte_length);
    if (out < 0) return Result(env, 0, EBADF, kNoDescriptor);
    // sendfile writes at the output's file offset. Only this call uses that offset: the mapping
    // (mmap) and fstat do not.
    if (lseek(out, static_cast<off_t>(at), SEEK_SET) < 0) return Result(env, 0, errno, kLseek);
    off_t in_offset = static_cast<off_t>(position);
    while (done < length) {
      const uint64_t want = length - done < kMaxPerCall ? length - done : kMaxPerCall;
      ssize_t n = sendfile(out, in, &in_offset, static_cast<size_t>(want));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Result(env, done, errno, kSendfile);
      }
      if (n == 0) break;  // the file ended
      done += static_cast<uint64_t>(n);
    }
    return Result(env, done, 0, kNone);
  }

  char* base = static_cast<char*>(data) + at;
  while (done < length) {
    const uint64_t want = length - done < kMaxPerCall ? length - done : kMaxPerCall;
    ssize_t n = pread(in, base + done, static_cast<size_t>(want), static_cast<off_t>(position + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Result(env, done, errno, kPread);
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  return Result(env, done, 0, kNone);
}

}  // namespace

void RegisterCopy(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"copyFromFile", nullptr, JS_copyFromFile, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}

}  // namespace ndshm
