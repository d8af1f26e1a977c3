/* Returning the heap's free memory to the kernel (glibc's malloc_trim, which Swift's Glibc
   module does not expose). */
#ifndef ZSM_MEMORY_H
#define ZSM_MEMORY_H

/* Gives the pages of the heap's free chunks back to the kernel (malloc_trim(0)): after a
   network is released and another built, the freed buffers otherwise stay resident in
   whatever pieces the new allocations did not reuse. Returns 1 if memory was released. */
int zsm_release_free_heap(void);

#endif
