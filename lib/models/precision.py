"""Opt-in bf16 evaluation (``EVAL.PRECISION: bf16``): an eval-only copy of a pose model whose
residual blocks run in bfloat16.

Evaluation is float32 by default.  Lifting is matrix products, almost all of them in the
residual blocks, and a CPU with native bf16 dot products (AVX512-BF16, AMX) runs those faster
in bf16.  Plain bf16 autocast of the whole network would also round the 2D input, the depth
output and the scale to 8 significant bits; this copy confines bf16 to the residual blocks:

* in each block (lifter, lifter head, scaler) the eval-mode BatchNorms are folded into the
  Linear layers before them (in float64: exact in arithmetic), and the three matrix products run
  on bf16 operands with float32 accumulation inside the kernel (``torch.addmm``); the block's
  input (features and the raw 2D skip input) is rounded to bf16 once, and its output (the
  residual sum, added in bf16) feeds the next block;
* the first layer (2D -> C) and the output layers (C -> depths, C -> scale) run in float32 on
  float32 inputs, so the network's inputs and outputs keep float32 resolution, and everything
  outside the networks (back-projection, root-centring, metrics) is float32.

What it costs in accuracy and what it saves in time, with the commands that measured it:
docs/PERFORMANCE.md, "Evaluation speed and ``EVAL.PRECISION``".  Only BatchNorms with running
statistics can be folded: a network trained with ``NETWORK.BN_TRACK: false`` must be evaluated
in float32.
"""
import copy
import functools
import platform
import warnings

import torch
import torch.nn as nn

BF16 = torch.bfloat16


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16():
    """True / False when /proc/cpuinfo lists (or lacks) bf16 dot-product instructions
    (x86: avx512_bf16, amx_bf16; Arm: bf16); None where that cannot be told."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = set()
            for line in f:
                if line.lower().startswith(('flags', 'features')):
                    flags.update(line.split(':', 1)[1].split())
    except OSError:
        return None
    if not flags:
        return None
    return bool(flags & {'avx512_bf16', 'amx_bf16', 'bf16'})


def warn_if_slow(device):
    """One warning when bf16 is asked for on a CPU that would emulate it (slower than fp32)."""
    if torch.device(device).type == 'cpu' and cpu_has_native_bf16() is False:
        warnings.warn('EVAL.PRECISION bf16: this CPU (%s) has no native bf16 instructions '
                      '(avx512_bf16 / amx_bf16), so bf16 evaluation is likely slower than fp32; '
                      'use EVAL.PRECISION fp32' % (platform.processor() or 'unknown'))


def _fold_bn(linear, bn=None):
    """(weight, bias) in float64 of ``bn(linear(x))`` in eval mode (or of ``linear`` alone)."""
    w = linear.weight.detach().double()
    b = linear.bias.detach().double() if linear.bias is not None else torch.zeros_like(w[:, 0])
    if bn is None:
        return w, b
    if bn.running_mean is None:
        raise ValueError('EVAL.PRECISION bf16 needs BatchNorm running statistics, and this '
                         'network has none (NETWORK.BN_TRACK false): evaluate with '
                         'EVAL.PRECISION fp32')
    k = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.affine:
        k = k * bn.weight.detach().double()
    b = (b - bn.running_mean.double()) * k
    if bn.affine:
        b = b + bn.bias.detach().double()
    return w * k[:, None], b


class Bf16Block(nn.Module):
    """Eval-mode ``ResBlock`` / ``Branch`` (lib/models/blocks.py) with folded BN, in bf16:

    ``relu(bn(L2(relu(bn(L1 x))))) + sc([x, raw])``, dropout being the identity in eval mode.
    ``out`` (a Branch's float32 output layer) is applied to the float32 sum when given;
    ``float_output`` returns the sum in float32 for a float32 layer after the block."""

    def __init__(self, block, out=None, float_output=False, dtype=BF16):
        super().__init__()
        self.dtype = dtype
        main = block.main
        if len(main) != 8:          # the blocks without BN (discriminators) are not lifted here
            raise ValueError('bf16 evaluation supports the pose model blocks with BatchNorm only')
        C = main[0].out_features
        w1, b1 = _fold_bn(main[0], main[1])
        w2, b2 = _fold_bn(main[4], main[5])
        ws, bs = _fold_bn(block.sc)
        for name, t in (('w1', w1.t()), ('b1', b1), ('w2', w2.t()), ('b2', b2),
                        ('wsx', ws[:, :C].t()), ('wsr', ws[:, C:].t()), ('bs', bs)):
            self.register_buffer(name, t.contiguous().to(dtype))
        self.out = out
        self.float_output = float_output

    def forward(self, x, raw):
        if self.training:
            raise RuntimeError('a bf16 inference copy cannot be trained; train the float32 model')
        xb = x.to(self.dtype)
        h = torch.addmm(self.b1, xb, self.w1).relu_()
        h = torch.addmm(self.b2, h, self.w2).relu_()
        s = torch.addmm(self.bs, xb, self.wsx).addmm_(raw.to(self.dtype), self.wsr)
        y = h.add_(s)
        if self.out is not None:
            return self.out(y.float())
        return y.float() if self.float_output else y


def bf16_inference_copy(model, dtype=BF16):
    """An eval-mode copy of a ``PoseModel`` whose residual blocks run in bf16 (module docstring).

    The model itself is not changed.  Raises ValueError when the network cannot be folded.
    ``dtype=torch.float32`` builds the same rewritten network in float32 (the tests use it to
    check the rewrite itself: it must reproduce the model's lift to float32 rounding)."""
    if dtype == BF16:
        warn_if_slow(next(model.parameters()).device)
    fast = copy.deepcopy(model).eval()
    lb = fast.lifter_before
    lb.blocks = nn.ModuleList(Bf16Block(b, dtype=dtype) for b in lb.blocks)
    fast.lifter_after = Bf16Block(fast.lifter_after, out=fast.lifter_after.out, dtype=dtype)
    if fast.scaler is not None and len(fast.scaler.blocks):
        n = len(fast.scaler.blocks)
        fast.scaler.blocks = nn.ModuleList(
            Bf16Block(b, float_output=(i == n - 1), dtype=dtype)
            for i, b in enumerate(fast.scaler.blocks))
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast.eval()
