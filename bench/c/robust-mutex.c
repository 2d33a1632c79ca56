// The floor under ndshm's Mutex: the same glibc mutex (robust, process-shared, error-checking) locked and
// unlocked from C, with nothing around it.
// usage:
//   robust-mutex uncontended ITERATIONS   {"lockNs": n, "tryLockNs": n}  (ns per lock+unlock pair)
//   robust-mutex contended ITERATIONS     two processes (fork) each do ITERATIONS × (lock; x++; unlock)
//                                         on one mutex in a shared mapping, starting together:
//                                         {"opsPerSec": n, "overlap": f, "count": n}
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void init(pthread_mutex_t* m) {
  pthread_mutexattr_t a;
  memset(m, 0, sizeof *m);
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
}

struct shared {
  pthread_mutex_t m;
  volatile long x;
  volatile int ready;
  double start[2];
  double end[2];
};

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  long n = atol(argv[2]);
  struct shared* s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) return 1;
  init(&s->m);
  if (strcmp(argv[1], "uncontended") == 0) {
    for (long i = 0; i < n / 10; i++) {  // warm-up
      pthread_mutex_lock(&s->m);
      pthread_mutex_unlock(&s->m);
    }
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      pthread_mutex_lock(&s->m);
      pthread_mutex_unlock(&s->m);
    }
    double t1 = now_ns();
    for (long i = 0; i < n; i++) {
      if (pthread_mutex_trylock(&s->m) == 0) pthread_mutex_unlock(&s->m);
    }
    double t2 = now_ns();
    printf("{\"lockNs\": %.3f, \"tryLockNs\": %.3f}\n", (t1 - t0) / n, (t2 - t1) / n);
    return 0;
  }
  if (strcmp(argv[1], "contended") == 0) {
    pid_t pid = fork();
    int me = pid == 0 ? 1 : 0;
    __atomic_add_fetch(&s->ready, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) < 2) {
    }
    s->start[me] = now_ns();
    for (long i = 0; i < n; i++) {
      pthread_mutex_lock(&s->m);
      s->x++;
      pthread_mutex_unlock(&s->m);
    }
    s->end[me] = now_ns();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    double from = s->start[0] < s->start[1] ? s->start[0] : s->start[1];
    double to = s->end[0] > s->end[1] ? s->end[0] : s->end[1];
    double lo = s->start[0] > s->start[1] ? s->start[0] : s->start[1];
    double hi = s->end[0] < s->end[1] ? s->end[0] : s->end[1];
    double overlap = hi > lo ? (hi - lo) / (to - from) : 0;
    printf("{\"opsPerSec\": %.1f, \"overlap\": %.4f, \"count\": %ld}\n", 2.0 * n / ((to - from) / 1e9), overlap, s->x);
    return 0;
  }
  return 2;
}
