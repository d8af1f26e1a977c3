#!/usr/bin/env python3
"""Generate a Zooming Slow-Mo test fixture: random weights, an input clip, and the outputs.

The fixture directory receives:
  model.pth         the state_dict (upstream names, order, shapes) in torch.save's zip container
  model_legacy.pth  the same state_dict in the legacy pre-1.6 container (skip with --no-legacy)
  <stage>.bin       tensors in the ZSMRAW01 format: input, feat_L1/2/3, lstm_in, lstm_out, output
                    (only input and output with --io-only, for big sizes)
  manifest.json     config, seed, shapes, layouts, value statistics, DCN offset statistics,
                    MACs per stage, library versions and the sha256 of every file

Weights are seeded random, He-style, with NON-zero offset predictors so that every DCN
really deforms (mean |offset| around 1 px, some taps outside the image, masks spread over
(0, 1)); they are not upstream's init (which zero-initialises the offset predictors):
  - every conv:                weight ~ N(0, 2/fan_in), bias ~ U(-0.05, 0.05)
  - residual-block convs:      weight scaled by 0.2 (keeps 40-block trunks stable)
  - DCN conv_offset_mask:      weight ~ N(0, 4/fan_in), bias ~ N(0, 1)
  - conv_last:                 weight ~ N(0, 1/fan_in)
The input clip is a smooth random texture (values in about [0.15, 0.95]) moving by a
random sub-frame translation of up to 2 px per frame.

Everything is drawn from one torch.Generator seeded with --seed (weights in state_dict
order, then the input), so a given seed, config and size always give the same fixture.
Outputs are computed in float32 with --threads CPU threads; the shared fixtures were made
with 2 threads, and other thread counts may change the last bit of some values.

Example (the full-config fixture, ~45 MB of weights, all stages):
  python make_fixture.py --config 64,8,5,40 --size 64x48 --frames 4 --seed 7 \\
      --no-legacy --out /work/fixtures-full/full_64x48_n4
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from zsm_bin import write_bin
from zsm_reference import STAGES, DCNSep, ResidualBlockNoBN, ZoomingSlowMo, count_macs

LAYOUTS = {
    "input": "B,N,C=3(RGB),H,W",
    "feat_L1": "B,N,nf,H,W",
    "feat_L2": "B,N,nf,H/2,W/2",
    "feat_L3": "B,N,nf,H/4,W/4",
    "lstm_in": "B,T=2N-1,nf,H,W",
    "lstm_out": "B,T=2N-1,nf,H,W",
    "output": "B,T=2N-1,C=3(RGB),4H,4W",
}
BIAS_RANGE = 0.05
RB_SCALE = 0.2
MAX_SHIFT_PX = 2.0


def init_weights(model: ZoomingSlowMo, gen: torch.Generator) -> None:
    """Fill every parameter with the seeded He-style distribution described in the module doc."""
    gains = {}  # parameter name -> variance gain (numerator of gain/fan_in)
    for name, module in model.named_modules():
        if isinstance(module, ResidualBlockNoBN):
            gains[f"{name}.conv1.weight"] = gains[f"{name}.conv2.weight"] = 2.0 * RB_SCALE ** 2
        elif isinstance(module, DCNSep):
            gains[f"{name}.conv_offset_mask.weight"] = 4.0
    gains["conv_last.weight"] = 1.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("conv_offset_mask.bias"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * BIAS_RANGE)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (gains.get(name, 2.0) / fan_in) ** 0.5)


def make_input(frames: int, height: int, width: int, gen: torch.Generator) -> torch.Tensor:
    """A smooth random RGB texture translated by a constant sub-pixel motion, [1,N,3,H,W]."""
    margin = int(np.ceil(MAX_SHIFT_PX * frames)) + 2
    coarse = torch.rand(1, 3, (height + 2 * margin) // 4 + 2, (width + 2 * margin) // 4 + 2, generator=gen)
    texture = F.interpolate(coarse, size=(height + 2 * margin, width + 2 * margin), mode="bicubic",
                            align_corners=False)
    texture = 0.15 + 0.8 * (texture - texture.min()) / (texture.max() - texture.min())
    dy, dx = ((torch.rand(2, generator=gen) * 2 - 1) * MAX_SHIFT_PX).tolist()
    # Sample each frame on a shifted grid (bilinear, normalised coordinates).
    ys = torch.arange(height, dtype=torch.float32) + margin
    xs = torch.arange(width, dtype=torch.float32) + margin
    clip = []
    for n in range(frames):
        gy = (ys + n * dy + 0.5) / texture.shape[2] * 2 - 1
        gx = (xs + n * dx + 0.5) / texture.shape[3] * 2 - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
        clip.append(F.grid_sample(texture, grid, mode="bilinear", align_corners=False)[0])
    return torch.stack(clip)[None].contiguous()


class DCNRecorder:
    """Forward hooks on every `conv_offset_mask` that collect DCN offset/mask statistics.

    Per DCN call: mean |offset|, and the fraction of (pixel, group, tap) sampling points
    lying entirely outside the map (p_y <= -1, p_y >= H, p_x <= -1 or p_x >= W, so the
    sample reads only zero padding). The summary averages these per-call values.
    """

    def __init__(self, model: ZoomingSlowMo):
        self.abs_means, self.outside, self.abs_max = [], [], 0.0
        self.mask_min, self.mask_max = 1.0, 0.0
        self.handles = [m.conv_offset_mask.register_forward_hook(self._hook)
                        for m in model.modules() if isinstance(m, DCNSep)]

    def _hook(self, module, inputs, z: torch.Tensor) -> None:
        b, ch, h, w = z.shape
        gk = ch // 3
        offset = z[:, : 2 * gk].reshape(b, gk // 9, 9, 2, h, w)
        mask = torch.sigmoid(z[:, 2 * gk :])
        tap = torch.arange(9)
        py = torch.arange(h).view(1, h, 1) - 1 + (tap // 3).view(9, 1, 1) + offset[:, :, :, 0]
        px = torch.arange(w).view(1, 1, w) - 1 + (tap % 3).view(9, 1, 1) + offset[:, :, :, 1]
        outside = (py <= -1) | (py >= h) | (px <= -1) | (px >= w)
        self.abs_means.append(offset.abs().mean().item())
        self.outside.append(outside.float().mean().item())
        self.abs_max = max(self.abs_max, offset.abs().max().item())
        self.mask_min = min(self.mask_min, mask.min().item())
        self.mask_max = max(self.mask_max, mask.max().item())

    def summary(self) -> dict:
        """Statistics over all recorded DCN calls; removes the hooks."""
        for handle in self.handles:
            handle.remove()
        return {"count": len(self.abs_means), "abs_offset_mean": float(np.mean(self.abs_means)),
                "abs_offset_max": self.abs_max, "mask_min": self.mask_min, "mask_max": self.mask_max,
                "frac_taps_outside": float(np.mean(self.outside))}


def value_stats(array: np.ndarray) -> dict:
    """min / max / mean / std (population) / abs_max, computed in float64."""
    a = array.astype(np.float64)
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()), "std": float(a.std()),
            "abs_max": float(np.abs(a).max())}


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="64,8,5,40",
                        help="nf,groups,front_RBs,back_RBs (default 64,8,5,40: the released model)")
    parser.add_argument("--size", default="64x48",
                        help="LR size WxH (default 64x48). Sizes that are not multiples of 4 are handled as "
                             "upstream's scripts do (docs/architecture.md §8.2): the input is zero-padded at the "
                             "bottom and right, the network runs, the output is cropped; only input and "
                             "output are written then")
    parser.add_argument("--frames", type=int, default=4, help="input frames N >= 2 (default 4)")
    parser.add_argument("--seed", type=int, default=7, help="seed of weights and input (default 7)")
    parser.add_argument("--out", type=Path, required=True, help="fixture directory to create or overwrite")
    parser.add_argument("--no-legacy", action="store_true", help="do not write model_legacy.pth")
    parser.add_argument("--io-only", action="store_true",
                        help="write only input.bin and output.bin (no intermediate stages), for big sizes")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--tail-width", type=int, default=64,
                        help="width of the x4 tail (upstream: 64; ZSM-Lite: smaller)")
    parser.add_argument("--global-skip", action="store_true",
                        help="ZSM-Lite: add the bicubic x4 of the inputs to the output")
    args = parser.parse_args(argv)
    try:
        args.config = [int(v) for v in args.config.split(",")]
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error("--config is nf,groups,front_RBs,back_RBs and --size is WxH, all integers")
    if len(args.config) != 4:
        parser.error("--config needs 4 values: nf,groups,front_RBs,back_RBs")
    if args.width < 1 or args.height < 1 or args.frames < 2:
        parser.error("W and H must be positive and --frames at least 2")
    if args.width % 4 or args.height % 4:
        args.io_only = True
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    nf, groups, front_rbs, back_rbs = args.config
    gen = torch.Generator().manual_seed(args.seed)
    model = ZoomingSlowMo(nf, groups, front_rbs, back_rbs, tail_width=args.tail_width,
                          global_skip=args.global_skip).eval()
    init_weights(model, gen)
    x = make_input(args.frames, args.height, args.width, gen)
    padded_h, padded_w = -(-args.height // 4) * 4, -(-args.width // 4) * 4
    x_padded = torch.nn.functional.pad(x, (0, padded_w - args.width, 0, padded_h - args.height))

    recorder = DCNRecorder(model)
    start = time.perf_counter()
    with torch.inference_mode():
        result = model(x_padded, return_stages=True, valid_size=(args.height, args.width))
    result["output"] = result["output"][..., :4 * args.height, :4 * args.width].contiguous()
    first_pass_s = time.perf_counter() - start
    dcn_stats = recorder.summary()
    result["input"] = x

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    files = ["model.pth"]
    torch.save(state, out / "model.pth")
    if not args.no_legacy:
        torch.save(state, out / "model_legacy.pth", _use_new_zipfile_serialization=False)
        files.append("model_legacy.pth")
    stages = ("input", "output") if args.io_only else ("input",) + STAGES
    tensors = {}
    for stage in stages:
        array = result[stage].numpy()
        write_bin(out / f"{stage}.bin", stage, array, LAYOUTS[stage])
        files.append(f"{stage}.bin")
        tensors[stage] = {"shape": list(array.shape), "layout": LAYOUTS[stage], **value_stats(array)}

    manifest = {
        "name": out.name,
        "config": {"nf": nf, "groups": groups, "front_RBs": front_rbs, "back_RBs": back_rbs,
                   "tail_width": args.tail_width, "global_skip": args.global_skip},
        "frames_in": args.frames,
        "frames_out": 2 * args.frames - 1,
        "lr_size_wh": [args.width, args.height],
        "hr_size_wh": [4 * args.width, 4 * args.height],
        "seed": args.seed,
        "num_parameters": sum(p.numel() for p in state.values()),
        "num_state_dict_tensors": len(state),
        "output_stats": value_stats(result["output"].numpy()),
        "input_stats": value_stats(x.numpy()),
        "dcn_stats": dcn_stats,
        "macs_per_forward": count_macs(model, padded_w, padded_h, args.frames),
        "first_pass_s": first_pass_s,
        "threads": args.threads,
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "numpy": np.__version__, "python": platform.python_version(),
                     "machine": platform.machine()},
        "tensors": tensors,
        "sha256": {name: sha256(out / name) for name in files},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out}: output {tensors['output']['shape']}, "
          f"mean |offset| {dcn_stats['abs_offset_mean']:.3f} px, "
          f"taps outside {dcn_stats['frac_taps_outside']:.3f}, {first_pass_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
