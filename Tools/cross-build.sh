#!/usr/bin/env bash
# A deployable zsm for an aarch64 board, built on an x86_64 Debian machine (as root; the board
# needs no Swift): the flags of Boards/BOARD.json, the Swift runtime and Foundation linked in
# statically (--static-swift-stdlib), laid out as an installation prefix:
#   OUT/bin/zsm                                  a launcher: lib/zsm/zsm on the C libraries beside it
#   OUT/lib/zsm/                                 zsm and the C libraries it was linked against, with
#                                                their dynamic loader (the board's glibc is not used)
#   OUT/share/zsm/{Models,Boards,Calibration}   the shipped model, board profiles, int8 tables
#   OUT/RUNTIME-DEPENDENCIES.txt                 what is in lib/zsm (Debian packages, versions)
# and OUT.tar.gz of it. zsm finds share/zsm beside its bin/ (Sources/ZSMPipeline/ShippedModel.swift),
# so unpack it anywhere (e.g. /opt/zsm or /usr/local) and run bin/zsm. README "Running on a board".
#
#   Tools/cross-build.sh BOARD [OUT]      # BOARD: an aarch64 profile in Boards/ (rpi5, rpi4, rk3588, ...)
#                                          # OUT: default dist/zsm-BOARD-aarch64
# The compiler is Debian's swiftlang 6.2.3 in a cached root (Tools/arm64-toolchain.sh: ~20 min
# the first time on a machine). At the end it runs OUT/bin/zsm under qemu-aarch64 as the board's
# CPU with no other aarch64 library: zsm --version, and zsm upscale of 3 frames of Samples/carphone.
set -euo pipefail
cd "$(dirname "$0")/.."
board=${1:-}
[ -n "$board" ] || {
  echo "usage: $0 BOARD [OUT]   (BOARD: $(grep -l '"arch": *"aarch64"' Boards/*.json | xargs -n1 basename | sed 's/\.json$//' | tr '\n' ' '))" >&2
  exit 2
}
[ -f "Boards/$board.json" ] || {
  echo "cross-build: no board profile Boards/$board.json" >&2
  exit 2
}
grep -q '"arch": *"aarch64"' "Boards/$board.json" || {
  echo "cross-build: Boards/$board.json is not an aarch64 board (build x86 ones natively: ZSM_BOARD=$board swift build -c release)" >&2
  exit 2
}
out=$(realpath -m "${2:-dist/zsm-$board-aarch64}")
tool=Tools/arm64-toolchain.sh
scratch=.build-aarch64-$board-static

"$tool" setup
sysroot=$("$tool" sysroot)
echo "== cross build of zsm for $board, Swift runtime static"
ZSM_GIT_COMMIT=$(git rev-parse --short HEAD 2> /dev/null || true) \
  "$tool" build "$board" "$scratch" --product zsm --static-swift-stdlib
bin=$scratch/release/zsm

rm -rf "$out" "$out.tar.gz"
mkdir -p "$out/bin" "$out/lib/zsm" "$out/share/zsm"
install -m 755 "$bin" "$out/lib/zsm/zsm"
aarch64-linux-gnu-strip "$out/lib/zsm/zsm"
cp -r Models Boards Calibration "$out/share/zsm/"

needed_of() { aarch64-linux-gnu-readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
mapfile -t needed < <(needed_of "$out/lib/zsm/zsm")
swiftlibs=$(printf '%s\n' "${needed[@]}" | grep -E '^lib(swift|Foundation|_Foundation|dispatch|BlocksRuntime|XCTest)' || true)
[ -z "$swiftlibs" ] || {
  echo "cross-build: FAIL: the Swift runtime is not static, zsm needs: $swiftlibs" >&2
  exit 1
}

# The C libraries zsm was linked against (Debian sid's: its libm symbols are versioned up to
# glibc 2.43, newer than any board image's glibc), with the dynamic loader, go into lib/zsm;
# bin/zsm runs the loader on them, so the board's own libraries are never used.
copy_lib() { # LIB and, recursively, what it needs
  [ -e "$out/lib/zsm/$1" ] && return 0
  local path dep
  path=$(ls "$sysroot"/{lib,usr/lib}/aarch64-linux-gnu/"$1" 2> /dev/null | head -1)
  [ -n "$path" ] || {
    echo "cross-build: FAIL: $1 is not in the sysroot" >&2
    exit 1
  }
  cp -L "$path" "$out/lib/zsm/$1"
  for dep in $(needed_of "$path"); do copy_lib "$dep"; done
}
for lib in "${needed[@]}"; do copy_lib "$lib"; done
copy_lib ld-linux-aarch64.so.1
cat > "$out/bin/zsm" << 'LAUNCHER'
#!/bin/sh
# zsm with the C libraries it was built against (lib/zsm: glibc, libstdc++, libv4l2, libdrm from
# Debian sid) through their own dynamic loader, so it runs whatever the board's glibc; its data
# (model, boards, calibration) from share/zsm beside bin/ unless ZSM_DATA_DIR says otherwise.
prefix=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
ZSM_DATA_DIR=${ZSM_DATA_DIR:-$prefix/share/zsm}
export ZSM_DATA_DIR
exec "$prefix/lib/zsm/ld-linux-aarch64.so.1" --library-path "$prefix/lib/zsm" --argv0 "$0" "$prefix/lib/zsm/zsm" "$@"
LAUNCHER
chmod 755 "$out/bin/zsm"

glibc=$(aarch64-linux-gnu-objdump -T "$out/lib/zsm/zsm" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
package_of() { # LIB: the arm64 Debian package (and version) that ships it in the sysroot
  local name list
  name=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g')
  list=$(grep -lE "/$name\$" "$sysroot"/var/lib/dpkg/info/*.list 2> /dev/null | head -1)
  [ -n "$list" ] || {
    echo "?"
    return
  }
  name=$(basename "$list" .list)
  echo "$name $(chroot_status "${name%:arm64}")"
}
chroot_status() { sed -n "/^Package: $1\$/,/^\$/s/^Version: //p" "$sysroot/var/lib/dpkg/status" | head -1; }
{
  echo "zsm for $board (Boards/$board.json), commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown)"
  echo "compiler: Debian swiftlang $(chroot_status swiftlang) (sid); Swift runtime and Foundation linked in statically"
  echo "zsm's newest glibc symbol version: ${glibc#GLIBC_}; it runs on the glibc in lib/zsm, not the board's:"
  echo "lib/zsm (Debian sid arm64 packages), loaded by bin/zsm through lib/zsm/ld-linux-aarch64.so.1:"
  for lib in $(ls "$out/lib/zsm" | grep -v '^zsm$'); do printf '  %-24s %s\n' "$lib" "$(package_of "$lib")"; done
  echo "needs from the board: an aarch64 Linux kernel, /bin/sh, and the CPU features of Boards/$board.json"
} > "$out/RUNTIME-DEPENDENCIES.txt"
cat "$out/RUNTIME-DEPENDENCIES.txt"

# Proof that it runs with nothing but OUT: under qemu-aarch64 as the board's CPU (qemu's "max"
# when it has no model of it) with an empty library prefix, from /, finding its data in share/zsm.
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
cpu=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["build"]["target_cpu"] or "max")' "Boards/$board.json")
cpus=$(qemu-aarch64-static -cpu help 2>&1 || true)
grep -qw -- "$cpu" <<< "$cpus" || cpu=max
here=$PWD
echo "== $out/bin/zsm --version under qemu-aarch64 -cpu $cpu, no library prefix, from /"
(cd / && QEMU_LD_PREFIX=$empty QEMU_CPU=$cpu "$out/bin/zsm" --version)
echo "== zsm upscale Samples/carphone/lr.y4m, input frames 0:3, with the shipped model"
upscaled=$empty/carphone-x4.y4m
(cd / && QEMU_LD_PREFIX=$empty QEMU_CPU=$cpu "$out/bin/zsm" upscale -i "$here/Samples/carphone/lr.y4m" \
  -o "$upscaled" --frames 0:3 --threads 2)
head -1 "$upscaled" | grep -q '^YUV4MPEG2 W176 H144 ' || {
  echo "cross-build: FAIL: the upscaled clip is not 176x144: $(head -c 60 "$upscaled" | head -1)" >&2
  exit 1
}
echo "ok: $(grep -ao FRAME "$upscaled" | wc -l) frames of 176x144"

tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
echo "== $out ($(du -sh "$out" | cut -f1)), $out.tar.gz ($(du -h "$out.tar.gz" | cut -f1))"
