"""Export a training state to the checkpoint zsm loads (and PyTorch loads with strict=True).

    python export.py --name lite --out ../../Models/zsm-lite.pth

Writes the model's state_dict alone (torch.save's zip container, float32), checks it loads back
strictly into the reference network and prints its configuration, size and sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reference"))

import zsm_reference as R  # noqa: E402
from train import build_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="lite", help="run folder under --runs-dir")
    ap.add_argument("--runs-dir", type=Path, default=HERE / "runs", help="folder of the runs (default runs/)")
    ap.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    args = ap.parse_args()
    st = torch.load(args.runs_dir / args.name / "state.pt", map_location="cpu", weights_only=False)
    model = build_model(tuple(st["config"]), st["tail_width"])
    model.load_state_dict(st["model"])
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(args.out)
    check = build_model(tuple(st["config"]), st["tail_width"])
    check.load_state_dict(torch.load(args.out, map_location="cpu", weights_only=True), strict=True)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    params = sum(p.numel() for p in check.parameters())
    print(f"{args.out}: config {st['config']} tail {st['tail_width']} global skip, iteration {st['iteration']}, "
          f"{params:,} parameters, {args.out.stat().st_size:,} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
