# Copyright (c) dmt_mm contributors. All rights reserved.
"""Where :class:`~dmt_mm.models.segmentors.DMTSegmentor` keeps the model
that is not in the student slot."""
from typing import Dict, Sequence

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




def dmt_model_state(state: Dict[str, Tensor], name: str,
                    model_names: Sequence[str]) -> Dict[str, Tensor]:
    """The plain segmentor state of model ``name`` in a
    :class:`~dmt_mm.models.segmentors.DMTSegmentor` state dict.

    Such a state dict holds the model in the student slot under
    ``student.``, the other under ``bank.`` and which one is active in
    ``active_index``; a stage checkpoint ``phase<k>_<model>.pth`` holds both.

    Args:
        state (dict): A ``DMTSegmentor`` state dict (``active_index`` in it).
        name (str): The model to take, one of ``model_names``.
        model_names (Sequence[str]): The wrapper's ``model_names``.

    Returns:
        dict: The keys of an ordinary MMSeg segmentor (no prefix).
    """
    names = tuple(model_names)
    if name not in names:
        raise ValueError(f'model {name!r} is not one of {names}')
    active = names[int(state['active_index'])]
    prefix = 'student.' if name == active else 'bank.'
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}


__all__ = ['StateBank', 'dmt_model_state']
