"""Make the held-out evaluation clips from carphone (never trained on) as Y4M files for zsm
(or, with --clip, the same from another clip: the int8 calibration sample).

    python make_eval_clips.py --out ../../quickstart-out/eval

writes `hr.y4m` (carphone's first 2L−1 frames, 176×144, as decoded) and `lr.y4m` (its even
frames downscaled ×1/4 by the training degradation: antialiased bicubic, 8-bit, 44×36), so that

    zsm upscale -i lr.y4m -o out.y4m && zsm eval --reference hr.y4m --output out.y4m --baselines lr.y4m

scores the model and the bicubic baselines in one run. `--crop WxH+X+Y` takes a part of the frame
(multiples of 4), `--frames L` the number of LR frames (default: all 60).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import data


def write_y4m(path: Path, frames: np.ndarray, rate: str) -> None:
    """uint8 RGB `[T, H, W, 3]` to a 4:2:0 Y4M (BT.601 limited range, ffmpeg's default)."""
    t, h, w, _ = frames.shape
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", rate,
         "-i", "-", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(path)],
        input=frames.tobytes(), check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=0, help="LR frames (default: as many as the clip gives)")
    ap.add_argument("--crop", default="", help="WxH+X+Y of the HR frame (multiples of 4)")
    ap.add_argument("--start", type=int, default=0, help="first HR frame (default 0)")
    ap.add_argument("--clip", default=data.HELD_OUT_CLIP,
                    help=f"source clip (default the held-out {data.HELD_OUT_CLIP}; the int8 calibration "
                         "sample uses bigbuckbunny, a training clip)")
    ap.add_argument("--bin", action="store_true",
                    help="also write lr.bin [1,L,3,h,w] and hr.bin [1,2L-1,3,H,W] (float RGB, zsm infer's format)")
    args = ap.parse_args()
    clip = data.decode(args.clip)[args.start:]  # carphone: [120, 144, 176, 3]
    if args.crop:
        size, x, y = args.crop.split("+")
        w, h = (int(v) for v in size.split("x"))
        clip = clip[:, int(y):int(y) + h, int(x):int(x) + w]
    lr_count = args.frames or (clip.shape[0] + 1) // 2
    hr = clip[:2 * lr_count - 1]
    hr_t = torch.from_numpy(hr[0::2].copy()).permute(0, 3, 1, 2).float() / 255
    lr = (data.downscale(hr_t) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    args.out.mkdir(parents=True, exist_ok=True)
    rate = "30000/1001" if args.clip == data.HELD_OUT_CLIP else "25"
    write_y4m(args.out / "hr.y4m", np.ascontiguousarray(hr), rate)
    write_y4m(args.out / "lr.y4m", np.ascontiguousarray(lr), "15000/1001" if rate != "25" else "25/2")
    if args.bin:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
        from zsm_bin import write_bin

        write_bin(args.out / "lr.bin", "input", (lr.astype(np.float32) / 255).transpose(0, 3, 1, 2)[None],
                  "B,N,C=3(RGB),H,W")
        write_bin(args.out / "hr.bin", "target", (hr.astype(np.float32) / 255).transpose(0, 3, 1, 2)[None],
                  "B,T=2N-1,C=3(RGB),4H,4W")
    print(f"{args.out}/hr.y4m: {hr.shape[0]} frames {hr.shape[2]}x{hr.shape[1]}; "
          f"{args.out}/lr.y4m: {lr.shape[0]} frames {lr.shape[2]}x{lr.shape[1]}")


if __name__ == "__main__":
    main()
