#!/usr/bin/env bash
# ZSM Edge quick start: installs missing system packages, builds zsm in release mode for this
# CPU, and upscales a clip.
#
#   ./quickstart.sh                              a self-contained demonstration
#   ./quickstart.sh xiang2020zooming.pth         upscale a generated test clip with the model
#   ./quickstart.sh xiang2020zooming.pth in.y4m  upscale your clip (Y4M; ffmpeg -f yuv4mpegpipe)
#
# Output goes to ./quickstart-out/. Needs the Swift 6 toolchain on the PATH (swift.org).
set -euo pipefail
cd "$(dirname "$0")"
model=${1:-}
clip=${2:-}
out=quickstart-out
mkdir -p "$out"

missing=()
for pkg in libv4l-dev libdrm-dev pkg-config python3; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  sudo=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "swift not found: install the Swift 6 toolchain (swift.org/install)" >&2; exit 1; }

echo "== building (release, for this CPU)"
swift build -c release --product zsm
zsm=.build/release/zsm

if [ -z "$clip" ]; then
  clip=$out/testclip.y4m
  echo "== writing a 6-frame 64x48 test clip to $clip"
  python3 - "$clip" <<'PY'
import math, sys
w, h, n = 64, 48, 6
with open(sys.argv[1], "wb") as f:
    f.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
    for t in range(n):
        y = bytes(int(16 + 219 * (0.5 + 0.5 * math.sin((x + 2 * t) / 6) * math.cos(r / 5)))
                  for r in range(h) for x in range(w))
        cb = bytes(128 + int(40 * math.sin((x + t) / 5)) for r in range(h // 2) for x in range(w // 2))
        cr = bytes(128 + int(40 * math.cos(r / 4)) for r in range(h // 2) for x in range(w // 2))
        f.write(b"FRAME\n" + y + cb + cr)
PY
fi

if [ -z "$model" ]; then
  cat <<'TXT'
== no checkpoint given
The released Zooming Slow-Mo weights are the file xiang2020zooming.pth, published by the
paper's authors with the upstream code (github.com/Mukosame/Zooming-Slow-Mo-CVPR-2020, see its
README, "pretrained model"). Download it and run:  ./quickstart.sh xiang2020zooming.pth [clip.y4m]

Meanwhile, a demonstration with the project's own small test checkpoint (random weights, so
the picture is not meaningful; it shows the whole path working: Y4M in, windows through the
network, Y4M out at 4x the size and twice the frame rate):
TXT
  model=Tests/Fixtures/tiny_16x12_n2/model.pth
fi

echo "== $zsm inspect $model"
"$zsm" inspect "$model" --size 64x48 --frames 4
echo "== $zsm upscale --model $model -i $clip -o $out/upscaled.y4m"
"$zsm" upscale --model "$model" -i "$clip" -o "$out/upscaled.y4m"
echo "== done: $out/upscaled.y4m (play it with: ffplay $out/upscaled.y4m)"
