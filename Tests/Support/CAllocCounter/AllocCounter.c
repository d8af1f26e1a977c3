#include "CAllocCounter.h"
#include <errno.h>
#include <stddef.h>

// glibc's own entry points, so the interposers need no dlsym (which itself allocates).
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile int counting = 0;
static int64_t count = 0;

static inline void note(void) {
  if (counting) __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
}

void zsm_alloc_counter_start(void) {
  __atomic_store_n(&count, 0, __ATOMIC_SEQ_CST);
  counting = 1;
}

// A sanitizer build (swift build --sanitize address|thread) brings its own malloc: interposing
// it here would bypass the sanitizer's checks, so such a build counts nothing and says so (-1).
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ZSM_SANITIZED 1
#endif
#endif

int64_t zsm_alloc_counter_stop(void) {
  counting = 0;
#ifdef ZSM_SANITIZED
  return -1;
#else
  return __atomic_load_n(&count, __ATOMIC_SEQ_CST);
#endif
}

#ifndef ZSM_SANITIZED

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
  note();
  void *p = __libc_memalign(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
#endif
