// SIGBUS guard. A shared-memory page past the end of its object (another process truncated it) or one
// the kernel cannot back (tmpfs full, for segments created without reserved space) raises SIGBUS on
// access, and a plain typed-array access in JavaScript cannot be checked beforehand. The guard maps
// anonymous zero pages over the failed range so the access completes, and records the fault; the next
// checked access in TypeScript reports it as an error. Faults outside registered mappings keep their
// previous disposition.
#pragma once
#include <cstddef>

namespace ndshm::sigbus {

enum Fault : int { kNone = 0, kTruncated = 1, kUnbacked = 2 };

void Install();
// Returns a slot id, or -1 when the registry is full (the mapping then stays unguarded).
int Register(void* addr, size_t len, int fd);
void Unregister(int slot);
int FaultOf(int slot);

}  // namespace ndshm::sigbus
