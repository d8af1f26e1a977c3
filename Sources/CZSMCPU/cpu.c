/* The start-up CPU check. This target is compiled without CPU flags (baseline x86-64 or
   aarch64; Package.swift gives it none), so it runs on any CPU of the architecture. A
   constructor compares the running CPU with the features the build targets
   (zsm_build_target_features, data from CZSMBuildInfo) before main and before any Swift code
   built for the target CPU runs (ArgumentParser's static configuration would otherwise die
   of SIGILL first), and exits with status 3 naming the missing features. */
#include "zsm_cpu.h"
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#if defined(__x86_64__)
static const char *const names[] = {"avx",      "avx2",     "fma",         "f16c",        "avx512f",    "avx512bw",
                                    "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16"};
#elif defined(__aarch64__)
static const char *const names[] = {"asimd", "fphp", "asimdhp", "asimddp"};
static const uint64_t hwcap_bits[] = {1u << 1, 1u << 9, 1u << 10, 1u << 20};
#else
static const char *const names[] = {NULL};
#endif

const char *zsm_cpu_feature_name(int i) {
  if (i < 0 || i >= (int)(sizeof(names) / sizeof(names[0]))) return NULL;
  return names[i];
}

#if defined(__x86_64__)
static uint64_t xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}
#endif

uint64_t zsm_cpu_features(void) {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  uint64_t f = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return ~UINT64_C(0);
  /* AVX state (XMM|YMM) and AVX-512 state (opmask, ZMM_Hi256, Hi16_ZMM) enabled by the OS. */
  const uint64_t x = (c >> 27 & 1) ? xcr0() : 0;
  const int ymm = (x & 0x6) == 0x6, zmm = ymm && (x & 0xe0) == 0xe0;
  if (ymm && (c >> 28 & 1)) f |= UINT64_C(1) << 0;
  if (ymm && (c >> 12 & 1)) f |= UINT64_C(1) << 2;
  if (ymm && (c >> 29 & 1)) f |= UINT64_C(1) << 3;
  if (__get_cpuid_max(0, 0) >= 7) {
    unsigned max7;
    __cpuid_count(7, 0, max7, b, c, d);
    if (ymm && (b >> 5 & 1)) f |= UINT64_C(1) << 1;
    if (zmm && (b >> 16 & 1)) f |= UINT64_C(1) << 4;
    if (zmm && (b >> 30 & 1)) f |= UINT64_C(1) << 5;
    if (zmm && (b >> 17 & 1)) f |= UINT64_C(1) << 6;
    if (zmm && (b >> 31 & 1)) f |= UINT64_C(1) << 7;
    if (zmm && (c >> 11 & 1)) f |= UINT64_C(1) << 8;
    if (zmm && (d >> 23 & 1)) f |= UINT64_C(1) << 10;
    if (max7 >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      if (zmm && (a >> 5 & 1)) f |= UINT64_C(1) << 9;
    }
  }
  return f;
#elif defined(__aarch64__)
  const uint64_t hwcap = zsm_hwcap();
  uint64_t f = 0;
  for (int i = 0; i < (int)(sizeof(hwcap_bits) / sizeof(hwcap_bits[0])); i++)
    if (hwcap & hwcap_bits[i]) f |= UINT64_C(1) << i;
  return f;
#else
  return ~UINT64_C(0);
#endif
}

uint64_t zsm_build_target_feature_bits(void) { return zsm_build_target_features; }
const char *zsm_build_flags_string(void) { return zsm_build_flags; }
const char *zsm_build_commit_string(void) { return zsm_build_commit; }

uint64_t zsm_cpu_missing_features(void) { return zsm_build_target_features & ~zsm_cpu_features(); }

static void say(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Priority 101: before the other constructors of the binary. The text is CPUFeatures.refusal's
   (ZSMRuntime), which a test keeps equal. */
__attribute__((constructor(101))) static void zsm_check_cpu_at_start(void) {
  const uint64_t missing = zsm_cpu_missing_features();
  if (missing == 0) return;
  say("zsm: this zsm binary was built for CPU features this CPU lacks: ");
  const char *separator = "";
  for (int i = 0; zsm_cpu_feature_name(i) != NULL; i++) {
    if (!(missing >> i & 1)) continue;
    say(separator);
    say(zsm_cpu_feature_name(i));
    separator = ", ";
  }
  say(".\nIt would stop with an illegal instruction. Rebuild it on this machine (swift build -c release), "
      "for this board (ZSM_BOARD=<name> swift build -c release, see Boards/README.md), or portable "
      "(ZSM_TARGET_CPU=generic ZSM_MARCH=x86-64-v3 on x86).\n");
  _exit(3);
}
