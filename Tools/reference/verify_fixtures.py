#!/usr/bin/env python3
"""Check the reference module against fixture directories.

For each fixture directory (one holding a `manifest.json`), this script
1. checks the sha256 of every file the manifest lists and that is present;
2. builds `ZoomingSlowMo` with the manifest's config and loads `model.pth` with
   `strict=True` (and `model_legacy.pth`, if present, which must hold the same tensors);
3. runs `input.bin` through the network and reports, for every stage tensor stored as
   `.bin` (`feat_L1/2/3`, `lstm_in`, `lstm_out`, `output`), the max abs error.

It exits with status 1 when any error exceeds `--tol` or any check fails.

Examples:
    python verify_fixtures.py                          # every fixture in /work/shared/fixtures
    python verify_fixtures.py /work/fixtures-full/full_64x48_n4 --threads 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from zsm_bin import read_bin
from zsm_reference import STAGES, ZoomingSlowMo

DEFAULT_ROOT = Path("/work/shared/fixtures")


def find_fixtures(paths: list[Path]) -> list[Path]:
    """Expand each path to the fixture directories it is or contains."""
    found = []
    for path in paths:
        if (path / "manifest.json").is_file():
            found.append(path)
        else:
            found.extend(sorted(p.parent for p in path.glob("*/manifest.json")))
    return found


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(fixture: Path, tol: float) -> tuple[dict, list[str]]:
    """Verify one fixture; returns (max abs error per stage, list of failures)."""
    manifest = json.loads((fixture / "manifest.json").read_text())
    failures = [f"sha256 mismatch: {name}" for name, digest in manifest.get("sha256", {}).items()
                if (fixture / name).is_file() and sha256(fixture / name) != digest]

    model = ZoomingSlowMo(**manifest["config"]).eval()
    state = torch.load(fixture / "model.pth", map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    legacy = fixture / "model_legacy.pth"
    if legacy.is_file():
        old = torch.load(legacy, map_location="cpu", weights_only=True)
        if list(old) != list(state) or any(not torch.equal(old[k], state[k]) for k in state):
            failures.append("model_legacy.pth differs from model.pth")

    _, x = read_bin(fixture / "input.bin")
    with torch.inference_mode():
        got = model(torch.from_numpy(x.copy()), return_stages=True)

    errors = {}
    for stage in STAGES:
        path = fixture / f"{stage}.bin"
        if not path.is_file():
            continue
        _, want = read_bin(path)
        if tuple(want.shape) != tuple(got[stage].shape):
            failures.append(f"{stage}: shape {tuple(got[stage].shape)} != stored {want.shape}")
            continue
        errors[stage] = (got[stage] - torch.from_numpy(want.copy())).abs().max().item()
        if errors[stage] > tol:
            failures.append(f"{stage}: max abs error {errors[stage]:.3e} > {tol:.0e}")
    return errors, failures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT_ROOT],
                        help=f"fixture directories, or folders of them (default {DEFAULT_ROOT})")
    parser.add_argument("--tol", type=float, default=1e-5,
                        help="largest accepted max abs error per stage (default 1e-5)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads (default 2: the shared fixtures were made with 2 threads, "
                             "which reproduces them bit-exactly)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    fixtures = find_fixtures(args.paths)
    if not fixtures:
        print(f"no fixture (manifest.json) under {[str(p) for p in args.paths]}", file=sys.stderr)
        return 1
    ok = True
    for fixture in fixtures:
        errors, failures = verify(fixture, args.tol)
        print(f"{fixture.name}: " + ", ".join(f"{k} {v:.3e}" for k, v in errors.items()))
        for failure in failures:
            print(f"  FAIL {failure}")
        ok = ok and not failures
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
