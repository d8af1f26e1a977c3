#!/usr/bin/env bash
# Tools/fuzz.sh TARGET SECONDS [LIBFUZZER OPTIONS...]: builds one libFuzzer target of
# Tools/fuzz (release, -sanitize=fuzzer,address, scratch path .build-fuzz) and runs it for
# SECONDS from its seed corpus in Tools/fuzz/corpus/TARGET. New inputs go to
# .build-fuzz-runs/corpus/TARGET (the repository's seeds are never written). A crash, an ASan report,
# a leak, an input that runs longer than 10 s or needs more than 2 GB ends the run with a
# non-zero exit and keeps the input as .build-fuzz-runs/artifacts/TARGET/crash-* (or timeout-*,
# oom-*, leak-*); rerun one with: .build-fuzz/release/fuzz-TARGET FILE.
# SECONDS=0 runs every seed once (the corpus as a regression test). TARGET "all" runs each.
# Targets: checkpoint unpickler y4m daemon-config calibration board.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH

targets=(checkpoint unpickler y4m daemon-config calibration board)
if [ $# -lt 2 ]; then
  echo "usage: Tools/fuzz.sh TARGET|all SECONDS [libFuzzer options]; targets: ${targets[*]}" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2
  exit 2
fi
if [ "$target" = all ]; then
  for t in "${targets[@]}"; do "$0" "$t" "$seconds" "$@"; done
  exit 0
fi
if [[ " ${targets[*]} " != *" $target "* ]]; then
  echo "fuzz.sh: unknown target '$target'; targets: ${targets[*]}" >&2
  exit 2
fi

# Coverage is asked for explicitly: with --sanitize fuzzer alone, SwiftPM 6.3.1 builds have come
# out with only the target file instrumented (57 counters instead of 8,000-24,000, e.g.
# fuzz-board, and fuzz-unpickler after an incremental rebuild), which fuzzes blind. A binary
# with fewer than 1,000 counters is refused.
scratch=.build-fuzz
ZSM_FUZZ=1 swift build -c release --sanitize fuzzer --sanitize address \
  -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table --scratch-path "$scratch" \
  --product "fuzz-$target"
binary=$scratch/release/fuzz-$target
counters=$({ SWIFT_BACKTRACE=enable=no "$binary" -runs=0 2>&1 || true; } \
  | sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' | head -1 || true)
if [ "${counters:-0}" -lt 1000 ]; then
  echo "fuzz.sh: $binary has ${counters:-no} coverage counters (expected thousands): not instrumented;" \
    "remove $scratch and run again" >&2
  exit 1
fi
seeds=Tools/fuzz/corpus/$target
work=.build-fuzz-runs/corpus/$target
artifacts=.build-fuzz-runs/artifacts/$target
mkdir -p "$work" "$artifacts"
options=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
dict=Tools/fuzz/dict/$target.dict
[ -f "$dict" ] && options+=(-dict="$dict")

# Swift's crash reporter would catch the signal before ASan and libFuzzer do (and keep the
# output pipe open in a child); libFuzzer reports and keeps the input itself.
export SWIFT_BACKTRACE=enable=no
echo "== fuzz-$target: ${seconds} s from $seeds ($(ls "$seeds" | wc -l) seeds, $counters coverage counters)"
if [ "$seconds" -eq 0 ]; then
  "$binary" "${options[@]}" -runs=0 "$@" "$seeds"
else
  "$binary" "${options[@]}" -max_total_time="$seconds" "$@" "$work" "$seeds"
fi
