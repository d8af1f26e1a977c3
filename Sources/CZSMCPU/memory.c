#include "zsm_memory.h"

#include <malloc.h>

int zsm_release_free_heap(void) {
#if defined(__GLIBC__)
  return malloc_trim(0);
#else
  return 0;
#endif
}
