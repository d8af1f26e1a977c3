// Counts heap allocations of the whole process (malloc, calloc, realloc, memalign,
// posix_memalign, aligned_alloc) while counting is enabled. Linked into test binaries only:
// defining these symbols in the executable interposes them for every shared library too.
#ifndef CALLOCCOUNTER_H
#define CALLOCCOUNTER_H
#include <stdint.h>

/// Starts counting from zero.
void zsm_alloc_counter_start(void);
/// Stops counting and returns the number of allocations since the last start; -1 in a
/// sanitizer build, which counts nothing (its malloc is the sanitizer's).
int64_t zsm_alloc_counter_stop(void);
#endif
