"""PyTorch reference of the Zooming Slow-Mo network (CVPR 2020), written from the spec.

The spec is the shared design folder's `architecture.md`; `docs/architecture.md` is the
repository's summary of it, with the same section numbers. Section numbers in the comments
below (§n) refer to them. The module tree mirrors upstream's `LunaTokis` so that the
`state_dict` has exactly the upstream names, order and shapes (§9): the official
checkpoint and the project fixtures load with `strict=True`.

The modulated deformable convolutions (DCNv2, §4) run through
`torchvision.ops.deform_conv2d`, whose offset and mask layout is the one upstream's
`conv_offset_mask` produces, so no channel permutation is needed.

Batching follows upstream (frames of a clip are batched in Stage A and Stage D, the
two inputs of a state aligner are batched in its pyramid), which keeps float32
results bit-identical to the upstream code on the same PyTorch build.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

#: Upstream's hard-wired width of the upsampling tail (§6): upconv2 is nf→4·64, HRconv 64→64,
#: conv_last 64→3 whatever `nf` is. ZSM-Lite makes it a parameter (`tail_width`).
HR_CHANNELS = 64
RGB = 3

#: Value of the `global_skip` buffer of a ZSM-Lite checkpoint: the kind of upscale added to the
#: network's output. 1 = ×4 bicubic (PyTorch `interpolate`, a = −0.75, half-pixel centres, edge
#: clamped) of the input frame at input positions, mean of the two neighbours' at interpolated ones.
GLOBAL_SKIP_BICUBIC = 1.0

#: How the modulated deformable convs run: "torchvision" (`deform_conv2d`, the reference) or
#: "gather" (`grid_sample` gathers + one matmul: the same maths, several times faster backward on
#: the CPU; used for training). See `deform_conv_gather`.
DEFORM_BACKEND = "torchvision"

#: Stage names of the intermediate tensors `forward(..., return_stages=True)` returns.
STAGES = ("feat_L1", "feat_L2", "feat_L3", "lstm_in", "lstm_out", "output")


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """ρ: LeakyReLU with negative slope 0.1 (§0)."""
    return F.leaky_relu(x, negative_slope=0.1)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """U2: ×2 bilinear resize with half-pixel centres and edge clamping (§7)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution, zero padding 1, with bias."""
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=True)


def conv1(cin: int, cout: int) -> nn.Conv2d:
    """1×1 convolution with bias."""
    return nn.Conv2d(cin, cout, 1, 1, 0, bias=True)


class ResidualBlockNoBN(nn.Module):
    """`y = x + conv2(relu(conv1(x)))`: plain ReLU inside, nothing after the sum (§2)."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv1 = conv3(nf, nf)
        self.conv2 = conv3(nf, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class DCNSep(nn.Module):
    """Modulated deformable 3×3 conv whose offsets and masks come from a separate map (§4).

    Parameters are registered in upstream order: `weight`, `bias`, then
    `conv_offset_mask.weight`, `conv_offset_mask.bias`.
    """

    def __init__(self, nf: int, groups: int):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(nf, nf, 3, 3))
        self.bias = nn.Parameter(torch.empty(nf))
        self.conv_offset_mask = conv3(nf, 3 * groups * 9)
        # Upstream's init (§12; irrelevant for inference): uniform kernel, zero bias,
        # zero offset/mask predictor, i.e. offsets 0 and masks 0.5.
        bound = 1.0 / (nf * 9) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor, offset_feat: torch.Tensor) -> torch.Tensor:
        """Deform-convolve `x` with offsets/masks predicted from `offset_feat`."""
        z = self.conv_offset_mask(offset_feat)
        gk = self.groups * 9
        # Upstream chunks Z in three and re-concatenates the first two: that is Z[:, :2GK].
        offset = z[:, : 2 * gk]
        mask = torch.sigmoid(z[:, 2 * gk :])
        if DEFORM_BACKEND == "gather":
            return deform_conv_gather(x, offset, mask, self.weight, self.bias, self.groups)
        return deform_conv2d(x, offset, self.weight, self.bias, stride=1, padding=1,
                             dilation=1, mask=mask)


def deform_conv_gather(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                       weight: torch.Tensor, bias: torch.Tensor, groups: int) -> torch.Tensor:
    """Modulated deformable 3×3 conv (stride 1, padding 1) as bilinear gathers plus one matmul.

    The same maths as `torchvision.ops.deform_conv2d` with `offset_groups = groups`: tap k = 3i+j
    of group g at output pixel (y, x) reads `x` bilinearly at (y − 1 + i + Δy, x − 1 + j + Δx),
    Δy = offset[2(9g+k)], Δx = offset[2(9g+k)+1], zero outside the image, times mask[9g+k].
    `grid_sample` with `align_corners=False` maps pixel p to (2p + 1)/size − 1 and reads zero
    padding outside, which is torchvision's bilinear rule.
    """
    b, c, h, w = x.shape
    k = 9
    cg = c // groups
    dev, dt = x.device, x.dtype
    off = offset.view(b, groups, k, 2, h, w)
    ky = torch.arange(3, device=dev, dtype=dt).repeat_interleave(3).view(1, 1, k, 1, 1) - 1
    kx = torch.arange(3, device=dev, dtype=dt).repeat(3).view(1, 1, k, 1, 1) - 1
    gy = torch.arange(h, device=dev, dtype=dt).view(1, 1, 1, h, 1)
    gx = torch.arange(w, device=dev, dtype=dt).view(1, 1, 1, 1, w)
    py = gy + ky + off[:, :, :, 0]  # [b, g, k, h, w]
    px = gx + kx + off[:, :, :, 1]
    grid = torch.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], -1)  # [b, g, k, h, w, 2]
    grid = grid.view(b * groups, k * h, w, 2)
    sampled = F.grid_sample(x.reshape(b * groups, cg, h, w), grid, mode="bilinear",
                            padding_mode="zeros", align_corners=False)  # [b·g, cg, k·h, w]
    sampled = sampled.view(b, groups, cg, k, h, w) * mask.view(b, groups, 1, k, h, w)
    cols = sampled.reshape(b, c * k, h * w)
    out = torch.matmul(weight.reshape(weight.shape[0], c * k), cols) + bias.view(1, -1, 1)
    return out.view(b, weight.shape[0], h, w)


def bicubic_up4(frames: torch.Tensor) -> torch.Tensor:
    """×4 bicubic of `[..., 3, H, W]` (a = −0.75, half-pixel centres, edge clamped, not clamped)."""
    *lead, ch, h, w = frames.shape
    up = F.interpolate(frames.reshape(-1, ch, h, w), scale_factor=4, mode="bicubic",
                       align_corners=False)
    return up.view(*lead, ch, 4 * h, 4 * w)


def global_skip(x: torch.Tensor) -> torch.Tensor:
    """ZSM-Lite's skip for input `[B, N, 3, H, W]`: `[B, 2N−1, 3, 4H, 4W]`, the ×4 bicubic of each
    input frame at even positions and the mean of its two neighbours' at odd positions."""
    up = bicubic_up4(x)
    mid = 0.5 * (up[:, :-1] + up[:, 1:])
    b, n = up.shape[:2]
    out = torch.stack([up[:, :-1], mid], 2).reshape(b, 2 * (n - 1), *up.shape[2:])
    return torch.cat([out, up[:, -1:]], 1)


class PCDAlign(nn.Module):
    """Two-way pyramid, cascading, deformable alignment (§3); keys `pcd_align.*`.

    `forward(a, b)` returns `[Align_1(a ← b) ‖ Align_2(b ← a)]` (2·nf channels), where
    `a` and `b` are pyramids `(L1, L2, L3)`.
    """

    def __init__(self, nf: int, groups: int):
        super().__init__()
        for s in (1, 2):  # all `_1` modules are registered before all `_2` modules (§9.2)
            self.add_module(f"L3_offset_conv1_{s}", conv3(2 * nf, nf))
            self.add_module(f"L3_offset_conv2_{s}", conv3(nf, nf))
            self.add_module(f"L3_dcnpack_{s}", DCNSep(nf, groups))
            self.add_module(f"L2_offset_conv1_{s}", conv3(2 * nf, nf))
            self.add_module(f"L2_offset_conv2_{s}", conv3(2 * nf, nf))
            self.add_module(f"L2_offset_conv3_{s}", conv3(nf, nf))
            self.add_module(f"L2_dcnpack_{s}", DCNSep(nf, groups))
            self.add_module(f"L2_fea_conv_{s}", conv3(2 * nf, nf))
            self.add_module(f"L1_offset_conv1_{s}", conv3(2 * nf, nf))
            self.add_module(f"L1_offset_conv2_{s}", conv3(2 * nf, nf))
            self.add_module(f"L1_offset_conv3_{s}", conv3(nf, nf))
            self.add_module(f"L1_dcnpack_{s}", DCNSep(nf, groups))
            self.add_module(f"L1_fea_conv_{s}", conv3(2 * nf, nf))

    def _align(self, s: int, src, ref) -> torch.Tensor:
        """Deform pyramid `src` towards `ref` with the weights of suffix `s`."""
        def m(name: str) -> nn.Module:
            return getattr(self, f"{name}_{s}")

        src1, src2, src3 = src
        ref1, ref2, ref3 = ref
        # Level 3: ρ after the DCN.
        o3 = lrelu(m("L3_offset_conv1")(torch.cat([src3, ref3], 1)))
        o3 = lrelu(m("L3_offset_conv2")(o3))
        f3 = lrelu(m("L3_dcnpack")(src3, o3))
        # Level 2: the upsampled offset FEATURE is doubled, the upsampled features are not.
        o2 = lrelu(m("L2_offset_conv1")(torch.cat([src2, ref2], 1)))
        o2 = lrelu(m("L2_offset_conv2")(torch.cat([o2, upsample2(o3) * 2], 1)))
        o2 = lrelu(m("L2_offset_conv3")(o2))
        f2 = m("L2_dcnpack")(src2, o2)
        f2 = lrelu(m("L2_fea_conv")(torch.cat([f2, upsample2(f3)], 1)))
        # Level 1: no activation after the DCN nor after the final fea_conv.
        o1 = lrelu(m("L1_offset_conv1")(torch.cat([src1, ref1], 1)))
        o1 = lrelu(m("L1_offset_conv2")(torch.cat([o1, upsample2(o2) * 2], 1)))
        o1 = lrelu(m("L1_offset_conv3")(o1))
        f1 = m("L1_dcnpack")(src1, o1)
        return m("L1_fea_conv")(torch.cat([f1, upsample2(f2)], 1))

    def forward(self, a, b) -> torch.Tensor:
        return torch.cat([self._align(1, a, b), self._align(2, b, a)], 1)


def build_pyramid(module: nn.Module, l1: torch.Tensor):
    """Return `(L1, L2, L3)` using `module.fea_L{2,3}_conv{1,2}` (stride 2 on each conv1)."""
    l2 = lrelu(module.fea_L2_conv2(lrelu(module.fea_L2_conv1(l1))))
    l3 = lrelu(module.fea_L3_conv2(lrelu(module.fea_L3_conv1(l2))))
    return l1, l2, l3


class EasyPCD(nn.Module):
    """State aligner `pcd_h` / `pcd_c` (§5.1): aligns a recurrent state with the input."""

    def __init__(self, nf: int, groups: int):
        super().__init__()
        self.fea_L2_conv1 = conv3(nf, nf, stride=2)
        self.fea_L2_conv2 = conv3(nf, nf)
        self.fea_L3_conv1 = conv3(nf, nf, stride=2)
        self.fea_L3_conv2 = conv3(nf, nf)
        self.pcd_align = PCDAlign(nf, groups)
        self.fusion = conv1(2 * nf, nf)

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # Both pyramids are built in one batch, interleaved per sample as upstream does.
        l1 = torch.stack([x, state], 1).view(-1, c, h, w)
        pyr = [t.view(b, 2, *t.shape[1:]) for t in build_pyramid(self, l1)]
        pyr_x = [t[:, 0] for t in pyr]
        pyr_s = [t[:, 1] for t in pyr]
        return self.fusion(self.pcd_align(pyr_x, pyr_s))


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell; gates split in the order (i, f, o, g) (§5.1)."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv = conv3(2 * nf, 4 * nf)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        zi, zf, zo, zg = torch.split(self.conv(torch.cat([x, h], 1)), x.shape[1], dim=1)
        c_next = torch.sigmoid(zf) * c + torch.sigmoid(zi) * torch.tanh(zg)
        h_next = torch.sigmoid(zo) * torch.tanh(c_next)
        return h_next, c_next


class DeformableConvLSTM(nn.Module):
    """One direction of the deformable ConvLSTM (§5.1).

    Registration order is `cell_list`, `pcd_h`, `pcd_c` (§9.3).
    """

    def __init__(self, nf: int, groups: int):
        super().__init__()
        self.cell_list = nn.ModuleList([ConvLSTMCell(nf)])
        self.pcd_h = EasyPCD(nf, groups)
        self.pcd_c = EasyPCD(nf, groups)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """`seq` is [B, T, C, H, W]; returns the hidden states, same shape."""
        h = torch.zeros_like(seq[:, 0])
        c = torch.zeros_like(seq[:, 0])
        outputs = []
        for t in range(seq.shape[1]):
            x = seq[:, t]
            # The zero initial state is aligned too (checklist §13.5).
            h_aligned = self.pcd_h(x, h)
            c_aligned = self.pcd_c(x, c)
            h, c = self.cell_list[0](x, h_aligned, c_aligned)
            outputs.append(h)
        return torch.stack(outputs, 1)


class ConvBLSTM(nn.Module):
    """Bidirectional wrapper: the same `forward_net` runs on the reversed sequence (§5.2)."""

    def __init__(self, nf: int, groups: int):
        super().__init__()
        self.forward_net = DeformableConvLSTM(nf, groups)
        self.conv_1x1 = conv1(2 * nf, nf)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = seq.shape
        fwd = self.forward_net(seq)
        bwd = self.forward_net(seq.flip(1)).flip(1)
        fused = self.conv_1x1(torch.cat([fwd, bwd], 2).view(b * t, 2 * c, h, w))
        return fused.view(b, t, c, h, w)


class ZoomingSlowMo(nn.Module):
    """Zooming Slow-Mo: N LR frames [B,N,3,H,W] -> 2N-1 HR frames [B,2N-1,3,4H,4W].

    Equivalent to upstream `LunaTokis(nf, nframes, groups, front_RBs, back_RBs)`;
    `nframes` is omitted because upstream never uses it. The released model is
    `ZoomingSlowMo(64, 8, 5, 40)`.

    ZSM-Lite options (both off in the released model): `tail_width` sets the width of the ×4
    tail (upconv2 nf→4·tail_width, HRconv tail_width→tail_width, conv_last tail_width→3;
    upstream hard-wires 64); `global_skip=True` adds `global_skip(x)` to the output and
    registers a one-element buffer `global_skip` (value `GLOBAL_SKIP_BICUBIC`) that marks the
    checkpoint, so a loader detects the variant from the state_dict's keys.
    """

    def __init__(self, nf: int = 64, groups: int = 8, front_RBs: int = 5, back_RBs: int = 40,
                 tail_width: int = HR_CHANNELS, global_skip: bool = False):
        super().__init__()
        self.nf, self.groups, self.front_RBs, self.back_RBs = nf, groups, front_RBs, back_RBs
        self.tail_width, self.use_global_skip = tail_width, global_skip
        if global_skip:
            self.register_buffer("global_skip", torch.full((1,), GLOBAL_SKIP_BICUBIC))
        # Stage A (§2)
        self.conv_first = conv3(RGB, nf)
        self.feature_extraction = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(front_RBs)])
        self.fea_L2_conv1 = conv3(nf, nf, stride=2)
        self.fea_L2_conv2 = conv3(nf, nf)
        self.fea_L3_conv1 = conv3(nf, nf, stride=2)
        self.fea_L3_conv2 = conv3(nf, nf)
        # Stage B (§3)
        self.pcd_align = PCDAlign(nf, groups)
        self.fusion = conv1(2 * nf, nf)
        # Stage C (§5)
        self.ConvBLSTM = ConvBLSTM(nf, groups)
        # Stage D (§6)
        self.recon_trunk = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(back_RBs)])
        self.upconv1 = conv3(nf, 4 * nf)
        self.upconv2 = conv3(nf, 4 * tail_width)
        self.HRconv = conv3(tail_width, tail_width)
        self.conv_last = conv3(tail_width, RGB)

    def forward(self, x: torch.Tensor, return_stages: bool = False, valid_size=None):
        """Run the network on `x` = [B, N, 3, H, W] (RGB in [0, 1], H and W multiples of 4).

        `valid_size` = (h, w): `x` is a frame of h×w zero-padded at the bottom and right (§8.2);
        the global skip (ZSM-Lite) is then the upscale of the h×w frame itself, placed at the top
        left of the 4H×4W output, so the padding never reaches the cropped output through it.

        Returns the output [B, 2N-1, 3, 4H, 4W] (not clamped), or, with
        `return_stages=True`, a dict holding it under `"output"` together with
        `feat_L1/2/3` ([B, N, nf, H/s, W/s]), `lstm_in` and `lstm_out` ([B, 2N-1, nf, H, W]).
        """
        b, n, _, h, w = x.shape
        if n < 2 or h % 4 or w % 4:
            raise ValueError(f"need N >= 2 and H, W multiples of 4, got input {tuple(x.shape)}")
        nf = self.nf

        # Stage A: per-frame feature pyramid, all frames in one batch.
        l1 = self.feature_extraction(lrelu(self.conv_first(x.reshape(b * n, RGB, h, w))))
        pyramid = [t.view(b, n, *t.shape[1:]) for t in build_pyramid(self, l1)]

        # Stage B: interpolated features between each pair, sequence [F0, I01, F1, ...].
        def frame(i: int) -> list[torch.Tensor]:
            return [level[:, i] for level in pyramid]

        seq = [pyramid[0][:, 0]]
        for i in range(n - 1):
            seq.append(self.fusion(self.pcd_align(frame(i), frame(i + 1))))
            seq.append(pyramid[0][:, i + 1])
        lstm_in = torch.stack(seq, 1)

        # Stage C: bidirectional deformable ConvLSTM.
        lstm_out = self.ConvBLSTM(lstm_in)

        # Stage D: reconstruction of all 2N-1 frames in one batch.
        t = lstm_in.shape[1]
        y = self.recon_trunk(lstm_out.reshape(b * t, nf, h, w))
        y = lrelu(F.pixel_shuffle(self.upconv1(y), 2))
        y = lrelu(F.pixel_shuffle(self.upconv2(y), 2))
        y = self.conv_last(lrelu(self.HRconv(y)))
        output = y.view(b, t, RGB, 4 * h, 4 * w)
        if self.use_global_skip:
            vh, vw = valid_size or (h, w)
            skip = global_skip(x[..., :vh, :vw])
            output = output + F.pad(skip, (0, 4 * (w - vw), 0, 4 * (h - vh)))

        if not return_stages:
            return output
        feat_l1, feat_l2, feat_l3 = pyramid
        return {"feat_L1": feat_l1, "feat_L2": feat_l2, "feat_L3": feat_l3,
                "lstm_in": lstm_in, "lstm_out": lstm_out, "output": output}


def _conv_macs(conv: nn.Conv2d, out_pixels: int) -> int:
    """MACs of a dense conv producing `out_pixels` pixels per channel."""
    cout, cin_per_group, kh, kw = conv.weight.shape
    return cout * cin_per_group * kh * kw * out_pixels


def _dcn_macs(dcn: DCNSep, pixels: int) -> int:
    """A DCN counts as its offset/mask conv plus its dense-equivalent deformable conv (§11)."""
    cout, cin, kh, kw = dcn.weight.shape
    return _conv_macs(dcn.conv_offset_mask, pixels) + cout * cin * kh * kw * pixels


def _pyramid_macs(module: nn.Module, pixels: int) -> int:
    """MACs of the level-2/3 convs of one pyramid whose level 1 has `pixels` pixels."""
    return (_conv_macs(module.fea_L2_conv1, pixels // 4) + _conv_macs(module.fea_L2_conv2, pixels // 4)
            + _conv_macs(module.fea_L3_conv1, pixels // 16) + _conv_macs(module.fea_L3_conv2, pixels // 16))


def _pcd_align_macs(align: PCDAlign, pixels: int) -> int:
    """MACs of one `PCDAlign` call (both directions) at level-1 size `pixels`."""
    total = 0
    for s in (1, 2):
        def m(name: str) -> nn.Module:
            return getattr(align, f"{name}_{s}")

        p3, p2, p1 = pixels // 16, pixels // 4, pixels
        total += _conv_macs(m("L3_offset_conv1"), p3) + _conv_macs(m("L3_offset_conv2"), p3)
        total += _dcn_macs(m("L3_dcnpack"), p3)
        for level, p in (("L2", p2), ("L1", p1)):
            for name in ("offset_conv1", "offset_conv2", "offset_conv3", "fea_conv"):
                total += _conv_macs(m(f"{level}_{name}"), p)
            total += _dcn_macs(m(f"{level}_dcnpack"), p)
    return total


def count_macs(model: ZoomingSlowMo, width: int, height: int, frames: int) -> dict:
    """Multiply-accumulates of one forward call, per stage, as counted in §11.

    Dense and deformable convolutions only (a DCN counts as its offset conv plus its
    dense equivalent); sampling, activations, gates and resizes are not counted.
    Returns a dict with `feature_extraction`, `interpolation`, `convlstm`,
    `reconstruction`, `upsampling` and `total`. For the default config at 64×48 with
    N = 4 the total is 218,058,129,408 (218.058 GMAC).
    """
    p, n = width * height, frames
    t = 2 * n - 1
    feature = n * (_conv_macs(model.conv_first, p)
                   + sum(_conv_macs(rb.conv1, p) + _conv_macs(rb.conv2, p) for rb in model.feature_extraction)
                   + _pyramid_macs(model, p))
    interpolation = (n - 1) * (_pcd_align_macs(model.pcd_align, p) + _conv_macs(model.fusion, p))
    cell = model.ConvBLSTM.forward_net

    def aligner(a: EasyPCD) -> int:
        """Two pyramids (input and state), one PCDAlign, one fusion."""
        return 2 * _pyramid_macs(a, p) + _pcd_align_macs(a.pcd_align, p) + _conv_macs(a.fusion, p)

    step = aligner(cell.pcd_h) + aligner(cell.pcd_c) + _conv_macs(cell.cell_list[0].conv, p)
    convlstm = t * (2 * step + _conv_macs(model.ConvBLSTM.conv_1x1, p))
    reconstruction = t * sum(_conv_macs(rb.conv1, p) + _conv_macs(rb.conv2, p) for rb in model.recon_trunk)
    upsampling = t * (_conv_macs(model.upconv1, p) + _conv_macs(model.upconv2, 4 * p)
                      + _conv_macs(model.HRconv, 16 * p) + _conv_macs(model.conv_last, 16 * p))
    stages = {"feature_extraction": feature, "interpolation": interpolation, "convlstm": convlstm,
              "reconstruction": reconstruction, "upsampling": upsampling}
    stages["total"] = sum(stages.values())
    return stages
