"""Exponential moving average of a model's weights (``TRAIN.EMA_DECAY``).

After every generator step: ema = decay * ema + (1 - decay) * weights, for
every floating-point parameter and buffer (BN running statistics included);
integer buffers (``num_batches_tracked``) are copied.
"""
import copy

import torch


class EMA:
    def __init__(self, model, decay):
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        src = model.state_dict()
        for k, v in self.module.state_dict().items():
            s = src[k]
            if v.dtype.is_floating_point:
                v.mul_(self.decay).add_(s.detach(), alpha=1 - self.decay)
            else:
                v.copy_(s)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, sd):
        self.module.load_state_dict(sd)
