#!/usr/bin/env bash
# The aarch64 cross toolchain for ZSM Edge on an x86_64 Debian machine (as root): Debian sid's
# swiftlang in an amd64 root (the cross compiler, runs natively) and in an arm64 root (the
# sysroot: Swift runtime, Foundation, XCTest, libc, libv4l2, libdrm; also where the aarch64
# test bundle runs, under qemu-user via binfmt). Both are made by mmdebstrap and cached outside
# any clone, keyed by the pinned swiftlang version, so a second run skips the ~20 minutes of
# setting them up. Why 6.2.3 and not the project's 6.3.1: no 6.3.1 aarch64 runtime exists to
# build against (README "Running on a board").
#
#   Tools/arm64-toolchain.sh setup                  # make (or check) the cached roots and the SDK bundle
#   Tools/arm64-toolchain.sh build BOARD SCRATCH [swift build arguments...]
#                                                   # cross-build this package for Boards/BOARD.json
#   Tools/arm64-toolchain.sh run CMD...             # run CMD in the arm64 root (cwd: the package)
#   Tools/arm64-toolchain.sh sysroot                # print the arm64 root (for qemu-aarch64 -L)
# Environment:
#   ZSM_ARM64_CACHE=/var/cache/zsm-arm64   where the roots live (~7 GB per swiftlang version)
#   ZSM_SWIFTLANG=6.2.3-1+b1               the pinned Debian swiftlang version (tested with it)
#   ZSM_DEBIAN_SUITE=sid                   the suite that has it
# The package is bind-mounted at the same path inside both roots as outside, so #filePath-based
# lookups (test fixtures) and build paths agree between build, chroot runs and qemu -L runs.
set -euo pipefail
PKG=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SWIFTLANG=${ZSM_SWIFTLANG:-6.2.3-1+b1}
SUITE=${ZSM_DEBIAN_SUITE:-sid}
CACHE=${ZSM_ARM64_CACHE:-/var/cache/zsm-arm64}
ROOTS=$CACHE/swiftlang-$SWIFTLANG
AMD=$ROOTS/amd64
ARM=$ROOTS/arm64
LOG=$ROOTS/logs

say() { echo "arm64-toolchain: $*"; }
die() {
  echo "arm64-toolchain: FAIL: $*" >&2
  exit 1
}

# The Debian mirror this machine already uses.
mirror() {
  local m
  m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2> /dev/null | head -1)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2> /dev/null)
  [ -n "$m" ] || die "no Debian mirror found in /etc/apt/sources.list*"
  echo "$m"
}

host_packages() {
  local need=() p
  for p in qemu-user-static mmdebstrap arch-test binfmt-support binutils-aarch64-linux-gnu python3; do
    dpkg -s "$p" > /dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    mkdir -p "$LOG"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}"; } \
      > "$LOG/host-apt.log" 2>&1 || die "apt-get install ${need[*]} (see $LOG/host-apt.log)"
  fi
  # binfmt_misc runs the arm64 root's maintainer scripts and programs through qemu-user; the F
  # flag makes that work inside a chroot without copying qemu into it.
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 2> /dev/null || true
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2> /dev/null \
    || die "the qemu-aarch64 binfmt_misc handler is missing or lacks the F flag"
}

# rm -rf DIR, unless something is mounted under it (an interrupted mmdebstrap leaves its /proc).
safe_rm() {
  ! grep -q " $1/" /proc/mounts || die "$1 is incomplete and has mounts under it (grep '$1' /proc/mounts): unmount them, then run again"
  rm -rf "$1"
}

# mkroot ARCH DIR PACKAGES: one Debian root with swiftlang=$SWIFTLANG, or a clear failure
# when the mirror no longer has that version.
mkroot() {
  local arch=$1 dir=$2 pkgs=$3 t0=$SECONDS
  [ -e "$dir/.zsm-root-complete" ] && return 0
  say "making the $arch $SUITE root with swiftlang $SWIFTLANG at $dir (once per machine; arm64 runs under qemu: ~15 min)"
  safe_rm "$dir"
  mkdir -p "$LOG"
  # A mirror that is a dated copy serves sid's Release past its Valid-Until: accept it.
  if ! mmdebstrap --aptopt='Acquire::Check-Valid-Until "false"' --architectures="$arch" --variant=apt \
    --include="swiftlang=$SWIFTLANG,libswiftlang=$SWIFTLANG,$pkgs" "$SUITE" "$dir" "$(mirror)" > "$LOG/mmdebstrap-$arch.log" 2>&1; then
    safe_rm "$dir"
    if grep -qE "Version '$SWIFTLANG' for '(lib)?swiftlang' was not found|Unable to locate package (lib)?swiftlang" "$LOG/mmdebstrap-$arch.log"; then
      die "Debian $SUITE on $(mirror) no longer has swiftlang $SWIFTLANG for $arch (the version this was tested with). Check 'apt-cache policy swiftlang' for $SUITE, test the package with the new version and update ZSM_SWIFTLANG's default in Tools/arm64-toolchain.sh (see $LOG/mmdebstrap-$arch.log)"
    fi
    tail -20 "$LOG/mmdebstrap-$arch.log" >&2
    die "mmdebstrap $arch failed (see $LOG/mmdebstrap-$arch.log)"
  fi
  touch "$dir/.zsm-root-complete"
  say "$arch root ready in $((SECONDS - t0)) s"
}

# The pinned swiftlang must still be on the mirror for both architectures: asked of apt with a
# private configuration (the host's own sources stay bookworm-only), before minutes of mmdebstrap.
check_pinned() {
  local d
  d=$(mktemp -d)
  chmod 755 "$d"
  mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/parts"
  : > "$d/status"
  echo "deb $(mirror) $SUITE main" > "$d/sources.list"
  cat > "$d/apt.conf" << CONF
Dir::State::Lists "$d/lists"; Dir::State::status "$d/status"; Dir::Cache "$d";
Dir::Etc::SourceList "$d/sources.list"; Dir::Etc::SourceParts "$d/parts";
APT::Architectures { "amd64"; "arm64"; }; Acquire::Languages "none"; Acquire::Check-Valid-Until "false";
CONF
  APT_CONFIG=$d/apt.conf apt-get update -qq > "$LOG/apt-check.log" 2>&1 \
    || die "apt-get update of Debian $SUITE failed (see $LOG/apt-check.log)"
  # madison: "swiftlang | 6.2.3-1+b1 | http://... sid/main arm64 Packages", one line per arch.
  local madison arch missing=() offered
  madison=$(APT_CONFIG=$d/apt.conf apt-cache madison {,lib}swiftlang{,:arm64} 2> /dev/null)
  rm -rf "$d"
  for arch in amd64 arm64; do
    for pkg in swiftlang libswiftlang; do
      echo "$madison" | awk -F' *[|] *' -v p="$pkg" -v v="$SWIFTLANG" -v a=" $arch " '$1 ~ "^ *" p "(:.*)?$" && $2 == v && index($3, a)' \
        | grep -q . || missing+=("$pkg:$arch")
    done
  done
  offered=$(echo "$madison" | awk -F' *[|] *' '$1 ~ /^ *swiftlang/ {split($3, w, " "); print $2 " (" w[3] ")"}' | sort -u | tr '\n' ' ')
  [ ${#missing[@]} -eq 0 ] || die "Debian $SUITE on $(mirror) no longer has swiftlang $SWIFTLANG for ${missing[*]} (the version this was tested with; it offers: ${offered:-none}). Test the package with another version (ZSM_SWIFTLANG=VERSION) and update the default in Tools/arm64-toolchain.sh"
  say "Debian $SUITE has swiftlang $SWIFTLANG for amd64 and arm64"
}

setup() {
  host_packages
  mkdir -p "$LOG"
  [ -e "$AMD/.zsm-root-complete" ] && [ -e "$ARM/.zsm-root-complete" ] || check_pinned
  # Both roots at once: the amd64 one is native and network-bound, the arm64 one CPU-bound.
  local pa pb ok=1
  mkroot amd64 "$AMD" "build-essential,pkgconf,git" &
  pa=$!
  mkroot arm64 "$ARM" "build-essential,libv4l-dev,libdrm-dev,pkgconf" &
  pb=$!
  wait $pa || ok=0
  wait $pb || ok=0
  [ $ok = 1 ] || die "could not make the roots"
  # Debian's swiftlang 6.2.3 ships the cross-import overlay _Testing_Foundation.swiftmodule (and
  # Testing.swiftcrossimport, which makes every module importing Testing and Foundation import
  # it) but not lib_Testing_Foundation.so: SwiftPM's generated test runner imports both, so the
  # .xctest link fails with "unable to find library -l_Testing_Foundation". The tests use XCTest
  # only: turn the overlay off in the sysroot.
  local l=$ARM/usr/libexec/swift/lib/swift/linux
  if [ -d "$l/Testing.swiftcrossimport" ] && [ ! -e "$l/lib_Testing_Foundation.so" ]; then
    mv "$l/Testing.swiftcrossimport" "$l/Testing.swiftcrossimport.disabled"
  fi
  # Debian links /usr/lib/swift to the runtime's resource directory but not /usr/lib/swift_static,
  # where the driver looks for swiftrt.o when linking with --static-swift-stdlib.
  [ -e "$ARM/usr/lib/swift_static" ] || ln -s ../libexec/swift/lib/swift_static "$ARM/usr/lib/swift_static"
  sdk_bundle
}

# A Swift SDK bundle in the amd64 root: target aarch64-unknown-linux-gnu, the arm64 root
# mounted at /sysroot, lld, and the runtime looked up where Debian's arm64 libswiftlang puts it.
SDK_DIR=/opt/zsm-arm64-sdk
sdk_bundle() {
  local b=$AMD$SDK_DIR/debian-aarch64.artifactbundle
  mkdir -p "$b/sdk"
  cat > "$b/info.json" << JSON
{
  "schemaVersion": "1.0",
  "artifacts": {
    "debian-aarch64": { "type": "swiftSDK", "version": "$SWIFTLANG", "variants": [ { "path": "sdk" } ] }
  }
}
JSON
  cat > "$b/sdk/swift-sdk.json" << 'JSON'
{
  "schemaVersion": "4.0",
  "targetTriples": {
    "aarch64-unknown-linux-gnu": {
      "sdkRootPath": "/sysroot",
      "swiftResourcesPath": "/sysroot/usr/libexec/swift/lib/swift",
      "swiftStaticResourcesPath": "/sysroot/usr/libexec/swift/lib/swift_static",
      "toolsetPaths": ["toolset.json"]
    }
  }
}
JSON
  cat > "$b/sdk/toolset.json" << 'JSON'
{
  "schemaVersion": "1.0",
  "swiftCompiler": { "extraCLIOptions": ["-use-ld=lld", "-no-toolchain-stdlib-rpath",
    "-Xlinker", "-rpath", "-Xlinker", "/usr/libexec/swift/lib/swift/linux"] }
}
JSON
}

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, chroot, bind mounts)"

# build and run bind-mount into the roots in a mount namespace of their own: two at once (a CI
# stage and a cross-build) cannot unmount each other's views, and nothing stays mounted after
# they end, even when killed.
case "${1:-}" in
  build | run)
    if [ -z "${ZSM_ARM64_PRIVATE_MOUNTS:-}" ]; then
      ZSM_ARM64_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private "$0" "$@"
    fi
    ;;
esac

mounted=()
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2> /dev/null || true; done
  mounted=()
}
trap unmount_all EXIT
bind() { # SOURCE TARGET [ro]
  mkdir -p "$2"
  mountpoint -q "$2" && return 0
  mount --bind "$1" "$2"
  [ "${3:-}" = ro ] && mount -o remount,bind,ro "$2"
  mounted+=("$2")
}
# enter ROOT: /proc (Debian's swift finds its runtime through /proc/self/exe), /sys, /dev and the
# package at the same path as outside.
enter() {
  local d
  for d in proc sys dev dev/pts; do bind "/$d" "$1/$d"; done
  bind "$PKG" "$1$PKG"
}

ready() {
  [ -e "$AMD/.zsm-root-complete" ] && [ -e "$ARM/.zsm-root-complete" ] \
    || die "no cached roots at $ROOTS: run '$0 setup' first"
}

# build BOARD SCRATCH [args]: swift build -c release for Boards/BOARD.json in the amd64 root.
build() {
  local board=${1:-} scratch=${2:-}
  [ -n "$board" ] && [ -n "$scratch" ] || die "usage: $0 build BOARD SCRATCH [swift build arguments...]"
  shift 2
  [ -f "$PKG/Boards/$board.json" ] || die "no board profile Boards/$board.json"
  grep -q '"arch": *"aarch64"' "$PKG/Boards/$board.json" || die "Boards/$board.json is not an aarch64 board"
  ready
  sdk_bundle
  enter "$AMD"
  bind "$ARM" "$AMD/sysroot" ro
  # Package dependencies resolve as on this machine: its git URL rewrites (e.g. a local mirror
  # of GitHub), with the local directories they name mounted read-only.
  : > "$AMD/etc/gitconfig"
  local key value
  while read -r key value; do
    git config --file "$AMD/etc/gitconfig" --add "$key" "$value"
    local dir=${key#url.}
    dir=${dir%.insteadof}
    case $dir in /*) [ -d "$dir" ] && bind "$dir" "$AMD$dir" ro ;; esac
  done < <(git config --system --get-regexp '^url\..*\.insteadof$' || true; git config --global --get-regexp '^url\..*\.insteadof$' || true)
  chroot "$AMD" env -i PATH=/usr/bin:/bin HOME=/root ZSM_BOARD="$board" ZSM_GIT_COMMIT="${ZSM_GIT_COMMIT:-}" \
    PKG_CONFIG_PATH=/sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:/sysroot/usr/share/pkgconfig \
    PKG_CONFIG_SYSROOT_DIR=/sysroot \
    bash -c 'cd "$1" && shift && exec swift build -c release --swift-sdks-path '"$SDK_DIR"' --swift-sdk debian-aarch64 "$@"' \
    - "$PKG" --scratch-path "$scratch" "$@"
}

# run CMD...: CMD in the arm64 root (aarch64 programs run through qemu-user by binfmt), in the package.
run_in_arm() {
  [ $# -gt 0 ] || die "usage: $0 run CMD..."
  ready
  enter "$ARM"
  # QEMU_CPU (e.g. cortex-a76) picks the CPU model qemu-user emulates; without it, "max".
  chroot "$ARM" env -i PATH=/usr/bin:/bin HOME=/root ${QEMU_CPU:+QEMU_CPU=$QEMU_CPU} bash -c 'cd "$1" && shift && exec "$@"' - "$PKG" "$@"
}

case "${1:-}" in
  setup) setup ;;
  build) shift && build "$@" ;;
  run) shift && run_in_arm "$@" ;;
  sysroot)
    ready
    echo "$ARM"
    ;;
  *) die "usage: $0 setup | build BOARD SCRATCH [swift build arguments...] | run CMD... | sysroot" ;;
esac
