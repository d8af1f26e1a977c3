#!/usr/bin/env bash
# ZSM Edge quick start: installs missing system packages, builds zsm in release mode for this
# CPU, installs it, and upscales a real clip with the shipped ZSM-Lite model.
#
#   ./quickstart.sh                              upscale Samples/carphone (held out from training),
#                                                score it against bicubic, write a side-by-side picture
#   ./quickstart.sh MODEL.pth                    the same with another checkpoint
#   ./quickstart.sh MODEL.pth in.y4m             upscale your clip (Y4M; ffmpeg -f yuv4mpegpipe)
#
# zsm is installed to $PREFIX/bin (default ~/.local) with its data (models, boards, calibration
# tables) in $PREFIX/share/zsm, so it runs from any directory. Output goes to ./quickstart-out/.
# Needs the Swift 6 toolchain on the PATH (swift.org).
set -euo pipefail
cd "$(dirname "$0")"
model=${1:-}
clip=${2:-}
out=quickstart-out
prefix=${PREFIX:-$HOME/.local}
mkdir -p "$out"

missing=()
for pkg in libv4l-dev libdrm-dev pkg-config ffmpeg; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  sudo=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "swift not found: install the Swift 6 toolchain (swift.org/install)" >&2; exit 1; }

echo "== building (release, for this CPU)"
# The commit goes into the binary (zsm --version); none outside a git checkout.
commit=$(git rev-parse --short HEAD 2>/dev/null || true)
ZSM_GIT_COMMIT=$commit swift build -c release --product zsm
echo "== installing zsm to $prefix/bin, its data to $prefix/share/zsm"
install -D -m 755 .build/release/zsm "$prefix/bin/zsm"
mkdir -p "$prefix/share/zsm"
cp -r Models Boards Calibration "$prefix/share/zsm/"
zsm=$prefix/bin/zsm
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "   (add $prefix/bin to your PATH to run zsm by name)" ;; esac

model_args=()
[ -n "$model" ] && model_args=(--model "$model")

if [ -n "$clip" ]; then
  echo "== zsm upscale ${model_args[*]} -i $clip -o $out/upscaled.y4m"
  "$zsm" upscale "${model_args[@]}" -i "$clip" -o "$out/upscaled.y4m"
  echo "== done: $out/upscaled.y4m (play it with: ffplay $out/upscaled.y4m)"
  exit 0
fi

lr=Samples/carphone/lr.y4m
hr=Samples/carphone/hr.y4m
echo "== zsm inspect ${model_args[*]} --size 44x36"
"$zsm" inspect "${model_args[@]}" --size 44x36 --frames 4
echo "== zsm upscale ${model_args[*]} -i $lr -o $out/carphone-x4.y4m"
"$zsm" upscale "${model_args[@]}" -i "$lr" -o "$out/carphone-x4.y4m"
echo "== zsm eval: the output and two bicubic baselines against the ground truth"
"$zsm" eval --reference "$hr" --output "$out/carphone-x4.y4m" --baselines "$lr" | tail -4

# bicubic | ZSM-Lite | ground truth, for input frame 10 (output 20) and the frame after it
# (output 21, interpolated; its bicubic baseline is the blend of input frames 10 and 11).
echo "== side-by-side picture: $out/side-by-side.png"
tmp=$out/frames
mkdir -p "$tmp"
pick='select=eq(n\,20)+eq(n\,21)'
ffmpeg -v error -y -i "$hr" -vf "$pick" -fps_mode passthrough "$tmp/hr-%d.png"
ffmpeg -v error -y -i "$out/carphone-x4.y4m" -vf "$pick" -fps_mode passthrough "$tmp/zsm-%d.png"
ffmpeg -v error -y -i "$lr" -vf "select=eq(n\,10)+eq(n\,11),scale=iw*4:ih*4:flags=bicubic" -fps_mode passthrough \
  "$tmp/bicubic-%d.png"
ffmpeg -v error -y -i "$tmp/bicubic-1.png" -i "$tmp/bicubic-2.png" -filter_complex "blend=all_mode=average" \
  "$tmp/blend.png"
ffmpeg -v error -y -i "$tmp/bicubic-1.png" -i "$tmp/zsm-1.png" -i "$tmp/hr-1.png" -i "$tmp/blend.png" \
  -i "$tmp/zsm-2.png" -i "$tmp/hr-2.png" \
  -filter_complex "[0][1][2]hstack=3[a];[3][4][5]hstack=3[b];[a][b]vstack,scale=iw*2:ih*2:flags=neighbor" \
  "$out/side-by-side.png"
echo "== done: $out/carphone-x4.y4m (ffplay it), $out/side-by-side.png"
echo "   rows: an input frame, an interpolated frame; columns: bicubic (blend), ZSM-Lite, ground truth"
