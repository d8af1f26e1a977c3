#define _GNU_SOURCE
#include "zsm_affinity.h"
#include <errno.h>
#include <sched.h>

int zsm_thread_set_cpus(pthread_t thread, const int *cpus, int count) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int i = 0; i < count; i++) {
    if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return EINVAL;
    CPU_SET(cpus[i], &set);
  }
  return pthread_setaffinity_np(thread, sizeof set, &set);
}

static int list(const cpu_set_t *set, int *cpus, int capacity) {
  int n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++) {
    if (CPU_ISSET(cpu, set)) cpus[n++] = cpu;
  }
  return n;
}

int zsm_thread_cpus(pthread_t thread, int *cpus, int capacity) {
  cpu_set_t set;
  if (pthread_getaffinity_np(thread, sizeof set, &set) != 0) return -1;
  return list(&set, cpus, capacity);
}

int zsm_process_cpus(int *cpus, int capacity) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return list(&set, cpus, capacity);
}
