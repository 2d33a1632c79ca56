// The floor under Segment.open + close: the same system calls from C, with nothing around them.
// usage: attach-floor NAME ITERATIONS WARMUP; prints {"samplesUs": [...], "bytes": N} (one JSON line).

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

// shm_open, fstat, mmap (what ndshm does for a read-write attach), then munmap, close (its close);
// the attach is timed alone into *attach_us.
static long attach_and_close(const char* path, double* attach_us) {
  double start = now_us();
  int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  void* addr = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return -1;
  *attach_us = now_us() - start;
  if (munmap(addr, (size_t)st.st_size) != 0 || close(fd) != 0) return -1;
  return (long)st.st_size;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  char path[64];
  snprintf(path, sizeof path, "/%s", argv[1]);
  int iterations = atoi(argv[2]);
  int warmup = atoi(argv[3]);
  double* samples = malloc(sizeof(double) * (size_t)(iterations > 0 ? iterations : 1));
  long bytes = 0;
  for (int i = -warmup; i < iterations; i++) {
    double us = 0;
    bytes = attach_and_close(path, &us);
    if (bytes < 0) {
      perror(path);
      return 1;
    }
    if (i >= 0) samples[i] = us;
  }
  printf("{\"bytes\": %ld, \"samplesUs\": [", bytes);
  for (int i = 0; i < iterations; i++) printf(i == 0 ? "%.3f" : ", %.3f", samples[i]);
  printf("]}\n");
  return 0;
}
