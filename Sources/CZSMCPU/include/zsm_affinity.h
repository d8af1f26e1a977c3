/* CPU affinity of threads (Linux sched_setaffinity family, which Swift's Glibc module does
   not expose), for pinning the worker pool to a board's big cores. */
#ifndef ZSM_AFFINITY_H
#define ZSM_AFFINITY_H
#include <pthread.h>

/* Pins `thread` to the `count` CPUs of `cpus` (it may run on any of them). 0 on success,
   else an errno value. */
int zsm_thread_set_cpus(pthread_t thread, const int *cpus, int count);
/* Writes the CPUs `thread` may run on (at most `capacity`) to `cpus`; returns how many, or
   -1 on error. */
int zsm_thread_cpus(pthread_t thread, int *cpus, int capacity);
/* The CPUs this process may run on, as zsm_thread_cpus. */
int zsm_process_cpus(int *cpus, int capacity);

#endif
