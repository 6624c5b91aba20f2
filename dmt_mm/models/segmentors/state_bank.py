# Copyright (c) dmt_mm contributors. All rights reserved.
"""Where :class:`~dmt_mm.models.segmentors.DMTSegmentor` keeps the model
that is not in the student slot."""
from typing import Dict

import torch.nn as nn
from torch import Tensor


class StateBank(nn.Module):
    """Buffers mirroring a module's ``state_dict`` (names included).

    Holds the weights of the model that is not in the student slot. Only
    buffers: the optimizer never sees them and DDP is told to ignore them.
    """

    def __init__(self, state: Dict[str, Tensor]) -> None:
        super().__init__()
        for name, tensor in state.items():
            *path, leaf = name.split('.')
            module = self
            for part in path:
                if not hasattr(module, part):
                    module.add_module(part, nn.Module())
                module = getattr(module, part)
            module.register_buffer(leaf, tensor.detach().clone())


__all__ = ['StateBank']
