#!/usr/bin/env bash
# The whole package for aarch64 (issue 14): zsm and the XCTest bundle cross-compiled with the
# board flags of Boards/rpi5.json (ARMv8.2-A + fp16 + dotprod) by Debian's Swift 6.2.3
# (Tools/arm64-toolchain.sh: cached roots, built on first use), then run under qemu-user as a
# Cortex-A76: zsm's build flags and start-up CPU check, `zsm infer` on a fixture against its
# expected output, the 6x16 conv micro-kernel's, fp16 conv's and int8 conv's (`sdot`)
# disassembly, and the golden, precision (fp16, int8) and kernel tests. The kernel tests again built for Boards/rpi4.json (ARMv8.0: no fp16 arithmetic,
# no dotprod) and run as a Cortex-A72, so both dispatch paths run (int8: the widening
# multiplies smull/smlal and sadalp instead of `sdot`, checked in zsm's disassembly). It also keeps the package
# compiling with Swift 6.2 (the newest Swift with an aarch64 Linux runtime to be had here).
#   Tests/ARM64/package.sh                # as root; ~20 min the first time on a machine (roots)
#   OUT=/tmp/x Tests/ARM64/package.sh     # logs and outputs (default /tmp/zsm-arm64-package)
# Exit status 0 only when every check passes. qemu emulates instructions, not timing: no figure
# here is a speed.
set -uo pipefail
cd "$(dirname "$0")/../.."
TOOL=Tools/arm64-toolchain.sh
if [ "$(uname -m)" != x86_64 ]; then
  echo "skipped: the aarch64 cross toolchain (Debian's amd64 swiftlang) needs an x86-64 host"
  exit 0
fi
OUT=${OUT:-/tmp/zsm-arm64-package}
mkdir -p "$OUT"
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}
step_t0=$SECONDS
step() {
  echo "== [$((SECONDS - step_t0)) s] $*"
}

step "aarch64 toolchain: Debian swiftlang roots (cached at ${ZSM_ARM64_CACHE:-/var/cache/zsm-arm64})"
"$TOOL" setup || exit 1
SYSROOT=$("$TOOL" sysroot) || exit 1

# cross_build BOARD SCRATCH LOG [args]: one cross build, its log in $OUT, errors shown.
cross_build() {
  local board=$1 scratch=$2 log=$3
  shift 3
  if ! "$TOOL" build "$board" "$scratch" "$@" > "$OUT/$log" 2>&1; then
    grep -E 'error:' "$OUT/$log" | head -20
    tail -5 "$OUT/$log"
    fail "cross build for $board (see $OUT/$log)"
    return 1
  fi
  grep -E '^(Build complete|Build of)' "$OUT/$log"
}

# xctest SCRATCH CPU CLASSES...: the bundle's tests of those classes in the arm64 root as CPU.
xctest() {
  local scratch=$1 cpu=$2 filter
  shift 2
  filter=$(IFS=,; echo "$*")
  QEMU_CPU=$cpu "$TOOL" run "$scratch/release/ZSMEdgePackageTests.xctest" "$filter" > "$OUT/xctest-$cpu.log" 2>&1
  local rc=$?
  grep -E "Executed [0-9]+ tests" "$OUT/xctest-$cpu.log" | tail -1
  grep -E "error: |skipped" "$OUT/xctest-$cpu.log" | head -20
  [ $rc -eq 0 ] || fail "XCTest as $cpu: exit status $rc (see $OUT/xctest-$cpu.log)"
}

# The test classes of a module (and extra Module.Class names), from the bundle's own list.
classes() { # SCRATCH CPU MODULE-REGEX
  QEMU_CPU=$2 "$TOOL" run "$1/release/ZSMEdgePackageTests.xctest" --list-tests 2> /dev/null \
    | sed -n 's#^\(\('"$3"'\)\.[A-Za-z0-9_]*\)/.*#\1#p' | sort -u
}

V82=.build-aarch64-rpi5
step "cross build for rpi5 (Boards/rpi5.json: cortex-a76, armv8.2-a+fp16+dotprod): zsm and the tests"
if cross_build rpi5 "$V82" build-rpi5.log --build-tests; then
  Z=$V82/release/zsm
  QEMU=(qemu-aarch64-static -L "$SYSROOT")
  aarch64-linux-gnu-readelf -h "$Z" | grep -q 'Machine: *AArch64' || fail "$Z is not an aarch64 executable"

  step "zsm --version as a Cortex-A76: the board's flags, nothing of the x86 build machine"
  "${QEMU[@]}" -cpu cortex-a76 "$Z" --version | tee "$OUT/version.txt"
  grep -qx 'build flags: -target-cpu cortex-a76 -Xcc -march=armv8.2-a+fp16+dotprod' "$OUT/version.txt" \
    || fail "zsm --version does not name exactly the rpi5 flags (a build machine's 'native' or VNNI leaked?)"
  grep -q '^built for: aarch64 ' "$OUT/version.txt" || fail "zsm --version does not say it was built for aarch64"
  # The start-up check refuses a CPU without the compiled-for features (exit status 3).
  "${QEMU[@]}" -cpu cortex-a72 "$Z" --version > "$OUT/version-a72.txt" 2>&1
  rc=$?
  if [ $rc -eq 3 ]; then
    echo "ok: as a Cortex-A72 it refuses to start (exit 3): $(head -1 "$OUT/version-a72.txt")"
  else
    fail "the rpi5 zsm on a Cortex-A72 exited $rc, expected 3 (see $OUT/version-a72.txt)"
  fi

  step "zsm infer tiny_16x12_n2 as a Cortex-A76, 2 threads, against the PyTorch output"
  F=Tests/Fixtures/tiny_16x12_n2
  # 1e-5: Tests/Fixtures/README.md's tolerance for a float32 port (the golden tests allow 1e-4).
  if "${QEMU[@]}" -cpu cortex-a76 "$Z" infer --model "$F/model.pth" --input "$F/input.bin" \
    --output "$OUT/tiny_16x12_n2-output.bin" --threads 2 > "$OUT/infer.txt" 2>&1; then
    python3 Tests/ARM64/compare_bin.py "$OUT/tiny_16x12_n2-output.bin" "$F/output.bin" 1e-5 \
      || fail "zsm infer output differs from $F/output.bin"
  else
    cat "$OUT/infer.txt"
    fail "zsm infer under qemu"
  fi

  step "NEON in the whole zsm: the 6x16 conv micro-kernel's loop, no fmaf calls"
  aarch64-linux-gnu-objdump -d --no-show-raw-insn "$Z" > "$OUT/zsm.dis"
  awk '/^[0-9a-f]+ <\$s.*microKernel_p6x16/{f=1} f && /^$/{exit} f' "$OUT/zsm.dis" > "$OUT/microKernel_p6x16.dis"
  n=$(grep -cE $'\tfmla\tv[0-9]+\\.4s' "$OUT/microKernel_p6x16.dis")
  calls=$(grep -cE $'\tbl\t.*<fmaf' "$OUT/zsm.dis")
  # Its epilogue's ReLU / LeakyReLU masks: vector compares (`fcmlt`, `cmlt`), no scalar `fcmp` lane
  # loop (Swift 6.2.3 builds one for a vector-scalar comparison such as `v .< 0`).
  sc=$(grep -cE $'\tfcmp\ts[0-9]+' "$OUT/microKernel_p6x16.dis")
  echo "fmla v.4s in microKernel_p6x16: $n; scalar fcmp in it: $sc; calls to fmaf in zsm: $calls"
  [ "$n" -ge 24 ] || fail "the 6x16 micro-kernel has $n fmla v.4s (expected >= 24: 6 pixels x 4 vectors)"
  [ "$sc" -eq 0 ] || fail "the 6x16 micro-kernel has $sc scalar fcmp (an epilogue mask built lane by lane)"
  [ "$calls" -eq 0 ] || fail "zsm calls fmaf $calls times (a scalarised FMA loop)"
  # --precision fp16 runs conv3x3F16Arith on this build (CPUFeatures.fp16Arithmetic): its tiles
  # must be vector fp16 FMAs (8 pixels x 8 lanes of one input vector = 64 per tile step; the tile
  # is 8 channels wide, as 16 spilled its registers on every step in the 6.2.3 build), none
  # scalarised.
  awk '/^[0-9a-f]+ <\$s10ZSMKernels15conv3x3F16Arith/{f=1} f && /^$/{exit} f' "$OUT/zsm.dis" > "$OUT/conv3x3F16Arith.dis"
  h=$(grep -cE $'\tfmla\tv[0-9]+\\.8h' "$OUT/conv3x3F16Arith.dis")
  hs=$(grep -cE $'\tfmadd\th[0-9]+' "$OUT/conv3x3F16Arith.dis")
  echo "fmla v.8h in the network's fp16-arithmetic conv3x3F16Arith: $h; scalar fp16 fmadd: $hs"
  [ "$h" -ge 64 ] && [ "$hs" -eq 0 ] || fail "conv3x3F16Arith in zsm: $h fmla v.8h (expected >= 64), $hs fmadd h"
  # --precision int8 runs conv3x3Int8Dot (ZSMKernelsInt8's aarch64 backend): on this dotprod
  # build its tiles are `sdot v.4s, v.16b, v.4b[i]` (from C, Sources/CZSMNeon; two 16-channel
  # steps x 4 lanes x 16 accumulators = 128 in the unrolled loop), with no calls to the Swift
  # runtime's dynamic exclusivity checks (swift_beginAccess: Swift 6.2 made them for nested
  # functions calling one another, and kept the accumulators in memory). (Tests/ARM64/run.sh
  # checks the sdot loop itself, built by the host's Swift.) `$s14ZSMKernelsInt807conv3x3B3Dot` is
  # ZSMKernelsInt8.conv3x3Int8Dot mangled (`B3` repeats the word "Int8" of the module name).
  awk '/^[0-9a-f]+ <\$s14ZSMKernelsInt807conv3x3B3Dot/{f=1} f && /^$/{exit} f' "$OUT/zsm.dis" > "$OUT/conv3x3Int8Dot.dis"
  d=$(grep -cE $'\tsdot\tv[0-9]+\\.4s, v[0-9]+\\.16b, v[0-9]+\\.4b\\[[0-3]\\]' "$OUT/conv3x3Int8Dot.dis")
  m=$(grep -cE $'\t(mla|mul|smlal2?|smull2?)\tv[0-9]+\\.(8h|4s)' "$OUT/conv3x3Int8Dot.dis")
  x=$(grep -c 'swift_beginAccess' "$OUT/conv3x3Int8Dot.dis")
  echo "the network's int8 conv3x3Int8Dot: sdot v.4s by element $d, integer vector multiply(-add)s $m, swift_beginAccess calls $x"
  [ "$x" -eq 0 ] || fail "conv3x3Int8Dot in zsm calls swift_beginAccess $x times (dynamic exclusivity checks in the kernel)"
  if grep -q '^int8 kernels: yes (NEON sdot' "$OUT/version.txt"; then
    [ "$d" -ge 128 ] || fail "conv3x3Int8Dot in zsm: $d sdot by element (expected >= 128)"
  else
    fail "zsm --version names no aarch64 int8 backend (see $OUT/version.txt)"
  fi

  step "golden, precision and kernel tests (XCTest) as a Cortex-A76"
  mapfile -t tests < <(classes "$V82" cortex-a76 ZSMKernelsTests)
  tests+=(ZSMModelTests.GoldenTests ZSMModelTests.PrecisionTests ZSMModelTests.PrecisionArenaTests
    ZSMModelTests.Int8PrecisionTests ZSMModelTests.Int8RefusalTests ZSMModelTests.BoardPrecisionTests
    ZSMModelTests.FP16ArithmeticTests)
  echo "${#tests[@]} classes: ${tests[*]}"
  [ "${#tests[@]}" -gt 10 ] || fail "too few kernel test classes found in the bundle"
  xctest "$V82" cortex-a76 "${tests[@]}"
fi

V80=.build-aarch64-rpi4
step "cross build for rpi4 (Boards/rpi4.json: cortex-a72, ARMv8.0): the kernel tests"
if cross_build rpi4 "$V80" build-rpi4.log --build-tests; then
  # The int8 backend without dot products: conv3x3Int8Dot's smull/smlal/sadalp, no sdot.
  R4=$V80/release/zsm
  qemu-aarch64-static -L "$SYSROOT" -cpu cortex-a72 "$R4" --version > "$OUT/version-rpi4.txt" 2>&1
  grep -q '^int8 kernels: yes (NEON smull' "$OUT/version-rpi4.txt" \
    || fail "the rpi4 zsm --version does not name the smull int8 backend (see $OUT/version-rpi4.txt)"
  aarch64-linux-gnu-objdump -d --no-show-raw-insn "$R4" > "$OUT/zsm-rpi4.dis"
  awk '/^[0-9a-f]+ <\$s14ZSMKernelsInt807conv3x3B3Dot/{f=1} f && /^$/{exit} f' "$OUT/zsm-rpi4.dis" \
    > "$OUT/conv3x3Int8Dot-rpi4.dis"
  m=$(grep -cE $'\t(smlal2?|smull2?)\tv[0-9]+\\.8h, v[0-9]+\\.(8|16)b' "$OUT/conv3x3Int8Dot-rpi4.dis")
  p=$(grep -cE $'\tsadalp\tv[0-9]+\\.4s, v[0-9]+\\.8h' "$OUT/conv3x3Int8Dot-rpi4.dis")
  d=$(grep -cE $'\tsdot\t' "$OUT/conv3x3Int8Dot-rpi4.dis")
  echo "rpi4 conv3x3Int8Dot: smull/smlal $m, sadalp $p, sdot $d"
  [ "$m" -ge 128 ] && [ "$p" -ge 64 ] && [ "$d" -eq 0 ] \
    || fail "rpi4 conv3x3Int8Dot: $m smull/smlal (expected >= 128), $p sadalp (>= 64), $d sdot (expected 0)"

  step "kernel tests (XCTest) as a Cortex-A72: code for ARMv8.0, no fp16 arithmetic, no dotprod"
  mapfile -t tests < <(classes "$V80" cortex-a72 ZSMKernelsTests)
  [ "${#tests[@]}" -gt 5 ] || fail "too few kernel test classes found in the rpi4 bundle"
  xctest "$V80" cortex-a72 "${tests[@]}"
fi

step "done: $fails failure(s)"
[ $fails -eq 0 ]
