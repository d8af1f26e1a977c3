#!/usr/bin/env bash
# ARM64 verification of ZSMKernels without a board (issue 6). Compiles Sources/ZSMKernels plus
# the C entry points in Tests/ARM64/Shims.swift as Embedded Swift for aarch64 twice (ARMv8.0
# baseline; ARMv8.2-A + fp16 + dotprod), links the C self-test (selftest.c: every kernel against
# a scalar double-precision reference), runs it under qemu-aarch64-static as a Cortex-A53 and a
# Cortex-A76, and checks the disassembly of the hot loops (loops.py: `fmla v.4s` present, no
# scalarised loop, no unexpected calls; in the v8.2 build `fmla v.8h` and `sdot` in the fp16 and
# int8 kernels), printing instructions per output element. Last, it counts the instructions
# qemu executes per output element of the fp32, fp16-arithmetic and int8 3x3 convolutions
# (insncount.py) and fails unless fp16 <= 1/2 and int8 <= 1/4 of fp32 (issue 7).
#   Tests/ARM64/run.sh            # installs qemu-user-static and the cross toolchain if missing (apt, root)
#   OUT=/tmp/x Tests/ARM64/run.sh # where objects, disassembly and logs go (default /tmp/zsm-arm64)
# Exit status 0 only if both builds pass every check on every CPU model and the loop checks pass.
# qemu emulates the instruction set exactly but not timing: no figure here is a speed.
set -uo pipefail
cd "$(dirname "$0")/../.."
START=$(date +%s)
SWIFTC=${SWIFTC:-/opt/swift/usr/bin/swiftc}
DEMANGLE=${DEMANGLE:-$(dirname "$SWIFTC")/swift-demangle}
OUT=${OUT:-/tmp/zsm-arm64}
SYSROOT=/usr/aarch64-linux-gnu
mkdir -p "$OUT"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

need=()
command -v qemu-aarch64-static > /dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-gcc > /dev/null || need+=(crossbuild-essential-arm64)
command -v aarch64-linux-gnu-objdump > /dev/null || need+=(binutils-aarch64-linux-gnu)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } > "$OUT/apt.log" 2>&1 \
    || { echo "FAIL: apt-get install ${need[*]} (see $OUT/apt.log)"; exit 1; }
fi

# ZSMKernels plus ZSMKernelsInt8's aarch64 int8 kernel (ARMDot.swift), whose products come from
# the C header of Sources/CZSMNeon, imported by its SDot.swift as in the package build: v82 turns
# on its sdot path (`vdotq_s32`), v80 has the smull/smlal/sadalp one. The self-test drives the
# kernel through Shims.swift; the rest of ZSMKernelsInt8 is tested in the package (package.sh).
mapfile -t SOURCES < <(find Sources/ZSMKernels -name '*.swift' | sort)
SOURCES+=(Sources/ZSMKernelsInt8/ARMDot.swift Sources/ZSMKernelsInt8/SDot.swift)
declare -A MARCH=([v80]="-I Sources/CZSMNeon/include"
  [v82]="-Xcc -march=armv8.2-a+fp16+dotprod -D ZSM_DOTPROD -I Sources/CZSMNeon/include")
echo "== compiling ${#SOURCES[@]} kernel files + Shims.swift as Embedded Swift for aarch64 (v80, v82 in parallel)"
for v in v80 v82; do
  # shellcheck disable=SC2086
  "$SWIFTC" -target aarch64-none-none-elf -enable-experimental-feature Embedded -wmo -parse-as-library \
    -module-name ZSMKernels -O -Xcc -fno-math-errno ${MARCH[$v]} \
    -c "${SOURCES[@]}" Tests/ARM64/Shims.swift -o "$OUT/kernels-$v.o" > "$OUT/compile-$v.log" 2>&1 &
  eval "pid_$v=$!"
done
for v in v80 v82; do
  pid_var=pid_$v
  wait "${!pid_var}" || fail "compile $v (see $OUT/compile-$v.log)"
done

for v in v80 v82; do
  [ -f "$OUT/kernels-$v.o" ] || continue
  aarch64-linux-gnu-gcc -O2 -ffp-contract=off -Wall -Werror Tests/ARM64/selftest.c "$OUT/kernels-$v.o" -lm \
    -o "$OUT/selftest-$v" 2> "$OUT/link-$v.log" || fail "link $v (see $OUT/link-$v.log)"
  aarch64-linux-gnu-objdump -dr --no-show-raw-insn "$OUT/kernels-$v.o" | "$DEMANGLE" --simplified > "$OUT/kernels-$v.dis"
done

run_check() { # label cpu binary
  local label=$1 cpu=$2 bin=$3 rc
  qemu-aarch64-static -cpu "$cpu" -L "$SYSROOT" "$bin" > "$OUT/run-$label.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ] && grep -q '^ALL PASS' "$OUT/run-$label.log"; then
    echo "PASS  $label: $(tail -1 "$OUT/run-$label.log")"
  else
    grep '^FAIL' "$OUT/run-$label.log" | head -20
    fail "$label: rc=$rc (see $OUT/run-$label.log)"
  fi
}
echo "== self-test under qemu (every kernel vs a scalar double reference)"
[ -x "$OUT/selftest-v80" ] && run_check v80@cortex-a53 cortex-a53 "$OUT/selftest-v80"
[ -x "$OUT/selftest-v80" ] && run_check v80@cortex-a76 cortex-a76 "$OUT/selftest-v80"
[ -x "$OUT/selftest-v82" ] && run_check v82@cortex-a76 cortex-a76 "$OUT/selftest-v82"

echo "== negative control: the v8.2 build on a Cortex-A53"
if [ -f "$OUT/kernels-v82.dis" ]; then
  # ARMv8.2 fp16 arithmetic (.8h/.4h or scalar h registers) and dot products.
  v82_insns=$(grep -cE $'\t(f(mla|mls|add|sub|mul|div|max|min|abs|neg|sqrt|cvtz[su]|madd|msub|cmge|cmgt|cmeq)\t[^/]*(\\.[48]h|\\bh[0-9]+)|[su]dot\t)' \
    "$OUT/kernels-v82.dis")
  echo "v8.2-only instructions in the v82 object: $v82_insns"
  if [ "$v82_insns" -gt 0 ]; then
    qemu-aarch64-static -cpu cortex-a53 -L "$SYSROOT" "$OUT/selftest-v82" > "$OUT/run-v82@cortex-a53.log" 2>&1
    rc=$?
    if [ $rc -eq 132 ]; then echo "PASS  v82@cortex-a53: SIGILL as expected"; else fail "v82@cortex-a53: rc=$rc, expected SIGILL (132)"; fi
  else
    fail "the v82 object has no v8.2 instruction: did -march reach the compiler? (Shims.swift's fp16 probe should be fmla v.8h)"
  fi
fi

echo "== hot loops (static instruction counts; MAC = one output element x one reduction step)"
for v in v80 v82; do
  [ -f "$OUT/kernels-$v.dis" ] || continue
  flags=(); [ "$v" = v82 ] && flags=(--fp16)  # the v8.2 build's fp16 probe must be fmla v.8h
  python3 Tests/ARM64/loops.py --label "$v" "${flags[@]}" < "$OUT/kernels-$v.dis" | tee "$OUT/loops-$v.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail "loop check $v"
done

# The checker itself must catch a scalarised micro-kernel: feed it v80 with fmla turned scalar.
if [ -f "$OUT/kernels-v80.dis" ]; then
  if sed -E 's/\tfmla\tv[0-9]+\.4s, .*$/\tfmadd\ts0, s1, s2, s3/' \
      "$OUT/kernels-v80.dis" | python3 Tests/ARM64/loops.py --label mutated > "$OUT/loops-mutated.txt"; then
    fail "loops.py accepted a disassembly whose conv loops were made scalar"
  else
    echo "PASS  loops.py rejects scalarised conv loops ($(grep -c 'FAIL: no fmla' "$OUT/loops-mutated.txt") kernels flagged)"
  fi
fi

# Executed (not static) instructions per output element of one 64->64 3x3 conv (16x12 map,
# LeakyReLU) in the v8.2 build on a Cortex-A76: the fp32 conv3x3, conv3x3F16Arith and
# conv3x3Int8Dot (`selftest count K R` sets one up and runs it R times; R=2 minus R=1 leaves one
# kernel call). Debian's qemu-user has no TCG plugins (libinsn.so), so insncount.py sums the
# translated-block sizes of qemu's `-d in_asm,exec,nochain` log. Issue 7 asks for fp16 <= 1/2
# and int8 <= 1/4 of fp32.
# Executed instructions of one call of kernel K (`selftest count K R`: R=2 minus R=1) in build B
# on qemu CPU C (run in $(...): it returns 1 when a count run fails, the caller fails the run).
# The output elements of the call are in "$OUT/count-B-0-1.out".
kernel_insns() {
  local b=$1 cpu=$2 k=$3 r log n=()
  for r in 1 2; do
    log="$OUT/count-$b-$k-$r.log"
    if qemu-aarch64-static -cpu "$cpu" -L "$SYSROOT" -d in_asm,exec,nochain -D "$log" \
        "$OUT/selftest-$b" count "$k" $r > "$OUT/count-$b-$k-$r.out" 2>&1; then
      n+=("$(python3 Tests/ARM64/insncount.py "$log")")
    fi
    rm -f "$log"
  done
  [ ${#n[@]} -eq 2 ] || return 1
  echo $((n[1] - n[0]))
}
elements() { sed -n 's/.* \([0-9]*\) output elements$/\1/p' "$OUT/count-$1-0-1.out"; }

echo "== executed instructions per output element (v82@cortex-a76, 64->64 3x3 conv, 16x12, LeakyReLU)"
if [ -x "$OUT/selftest-v82" ]; then
  fp32=$(kernel_insns v82 cortex-a76 0) || fail "instruction count run: v82 fp32 (see $OUT/count-v82-0-*.out)"
  fp16=$(kernel_insns v82 cortex-a76 1) || fail "instruction count run: v82 fp16 (see $OUT/count-v82-1-*.out)"
  int8=$(kernel_insns v82 cortex-a76 2) || fail "instruction count run: v82 int8 (see $OUT/count-v82-2-*.out)"
  if [ -n "$fp32" ] && [ -n "$fp16" ] && [ -n "$int8" ]; then
    python3 - "$(elements v82)" "$fp32" "$fp16" "$int8" << 'PY' | tee "$OUT/insns-per-element.txt"
import sys
n = int(sys.argv[1])
fp32, fp16, int8 = (int(x) / n for x in sys.argv[2:])
print(f'instructions per output element: fp32 {fp32:.1f}, fp16 {fp16:.1f} ({fp16 / fp32:.3f}), '
      f'int8 {int8:.1f} ({int8 / fp32:.3f})')
ok = fp32 > 0 and fp16 <= fp32 / 2 and int8 <= fp32 / 4
print(('PASS' if ok else 'FAIL') + '  fp16 <= 1/2 and int8 <= 1/4 of fp32')
sys.exit(0 if ok else 1)
PY
    [ "${PIPESTATUS[0]}" -eq 0 ] || fail "instructions per output element (see $OUT/insns-per-element.txt)"
  fi
fi

# The same for the v8.0 build on a Cortex-A72 (Pi 4: no sdot, no fp16 arithmetic): fp32 conv3x3
# against conv3x3Int8Dot's smull/smlal/sadalp form (32 products in 3 instructions where fp32
# does 4 in one fmla; its 16-bit lane predecessor took 1.59x fp32).
echo "== executed instructions per output element (v80@cortex-a72, 64->64 3x3 conv, 16x12, LeakyReLU)"
if [ -x "$OUT/selftest-v80" ]; then
  fp32=$(kernel_insns v80 cortex-a72 0) || fail "instruction count run: v80 fp32 (see $OUT/count-v80-0-*.out)"
  int8=$(kernel_insns v80 cortex-a72 2) || fail "instruction count run: v80 int8 (see $OUT/count-v80-2-*.out)"
  if [ -n "$fp32" ] && [ -n "$int8" ]; then
    python3 - "$(elements v80)" "$fp32" "$int8" << 'PY' | tee "$OUT/insns-per-element-v80.txt"
import sys
n = int(sys.argv[1])
fp32, int8 = (int(x) / n for x in sys.argv[2:])
print(f'instructions per output element (v8.0): fp32 {fp32:.1f}, int8 {int8:.1f} ({int8 / fp32:.3f})')
ok = fp32 > 0 and int8 <= fp32 * 0.9
print(('PASS' if ok else 'FAIL') + '  int8 <= 0.9 of fp32 without sdot')
sys.exit(0 if ok else 1)
PY
    [ "${PIPESTATUS[0]}" -eq 0 ] || fail "instructions per output element, v8.0 (see $OUT/insns-per-element-v80.txt)"
  fi
fi

echo "== done in $(($(date +%s) - START)) s: $fails failure(s); logs in $OUT"
exit $((fails != 0))
