#!/usr/bin/env python3
"""Time the PyTorch reference forward pass on the CPU and print one JSON line.

The model (default: the released config 64,8,5,40) gets seeded random weights (the
make_fixture.py distribution) and a seeded random clip of N frames at the LR size W×H.
One untimed warm-up pass precedes R timed passes, all under torch.inference_mode() in
float32 with torch.set_num_threads(T). The JSON line reports the median and min wall
time per forward, the median per output frame (divided by 2N-1), the MACs, and the
peak resident set size of the process (resource.getrusage ru_maxrss, so it includes
the warm-up and model construction).

Example:
  python bench_cpu.py --size 64x48 --frames 4 --threads 2 --runs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torchvision

from make_fixture import init_weights
from zsm_reference import ZoomingSlowMo, count_macs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="64x48", help="LR size WxH, multiples of 4 (default 64x48)")
    parser.add_argument("--frames", type=int, default=4, help="input frames N >= 2 (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs after the warm-up (default 3)")
    parser.add_argument("--config", default="64,8,5,40",
                        help="nf,groups,front_RBs,back_RBs (default 64,8,5,40: the released model)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and input (default 0)")
    args = parser.parse_args(argv)
    try:
        args.config = [int(v) for v in args.config.split(",")]
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error("--config is nf,groups,front_RBs,back_RBs and --size is WxH, all integers")
    if len(args.config) != 4 or args.width % 4 or args.height % 4 or args.frames < 2 or args.runs < 1:
        parser.error("need 4 config values, W and H multiples of 4, --frames >= 2 and --runs >= 1")
    return args


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    model = ZoomingSlowMo(*args.config).eval()
    init_weights(model, gen)
    x = torch.rand(1, args.frames, 3, args.height, args.width, generator=gen)

    times = []
    with torch.inference_mode():
        model(x)  # warm-up
        for _ in range(args.runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)

    frames_out = 2 * args.frames - 1
    median = statistics.median(times)
    print(json.dumps({
        "size_wh": [args.width, args.height], "frames_in": args.frames, "frames_out": frames_out,
        "config": args.config, "threads": args.threads, "runs": args.runs,
        "runs_s": [round(t, 4) for t in times],
        "median_s": round(median, 4), "min_s": round(min(times), 4),
        "median_per_output_frame_s": round(median / frames_out, 4),
        "gmac_per_forward": round(count_macs(model, args.width, args.height, args.frames)["total"] / 1e9, 3),
        "peak_rss_mb": round(peak_rss_bytes() / 2 ** 20, 1),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
        "torch": torch.__version__, "torchvision": torchvision.__version__, "machine": platform.machine(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
