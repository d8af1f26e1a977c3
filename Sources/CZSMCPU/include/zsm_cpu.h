/* CPU features: which ones the code importing this header was compiled for, which ones the
   running CPU has, and the check that runs before anything else in every binary (cpu.c). */
#ifndef ZSM_CPU_H
#define ZSM_CPU_H
#include <stdint.h>
#include "zsm_build_info.h"
#include "zsm_affinity.h" /* named here too: a build that cached this module before the header existed sees it */
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* The features the importing code was compiled for. Header-only: the inline function is
   compiled inside the Swift module that imports it (ZSMRuntime), with that module's
   -target-cpu / -Xcc -march flags, so it reports exactly the instruction set the Swift code
   may use. Bit i is feature i of zsm_cpu_feature_name. */
static inline uint64_t zsm_compiled_features(void) { return ZSM_COMPILED_FEATURES; }

/* getauxval(AT_HWCAP) on aarch64 Linux, 0 elsewhere. */
static inline uint64_t zsm_hwcap(void) {
#if defined(__aarch64__) && defined(__linux__)
  return (uint64_t)getauxval(AT_HWCAP);
#else
  return 0;
#endif
}

/* The running CPU's features in the same bits (cpuid and XCR0 on x86, so an emulator's CPU
   model counts; AT_HWCAP on aarch64); every bit set where they cannot be read. */
uint64_t zsm_cpu_features(void);
/* Linux's name of feature bit i on this architecture, NULL past the last. */
const char *zsm_cpu_feature_name(int i);
/* zsm_build_target_features, zsm_build_flags and zsm_build_commit (CZSMBuildInfo), as
   functions for Swift. */
uint64_t zsm_build_target_feature_bits(void);
const char *zsm_build_flags_string(void);
const char *zsm_build_commit_string(void);
/* The features the build targets that the running CPU lacks (0: none). */
uint64_t zsm_cpu_missing_features(void);
#endif
