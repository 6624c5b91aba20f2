# Copyright (c) dmt_mm contributors. All rights reserved.
from typing import Dict, Union

import torch.nn as nn
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS


class PerModelDataPreProcessor(BaseDataPreprocessor):
    """The data preprocessors of the two models of a ``DMTSegmentor``.

    DMT's models may expect different inputs: model A of the paper starts
    from the MS-COCO DeepLab-v2 trained in Caffe (BGR, 0-255, minus the Caffe
    mean, std 1), model B from an ImageNet ResNet (RGB, ImageNet mean/std).
    Folding one input normalisation into the other model's first convolution
    would scale that convolution's weights (by the std, about 58) and so
    change how SGD moves them; instead each model keeps its own preprocessor
    and every batch goes through the one of the model in the student slot.

    :class:`DMTSegmentor` builds this as its ``data_preprocessor`` (what
    mmengine's ``BaseModel.train_step``/``val_step``/``test_step`` and its
    DDP wrapper call) when the models' preprocessors differ, and sets
    :attr:`active` whenever the student slot changes (``activate``, loading
    a state dict), so routing costs no host-device sync.

    Args:
        preprocessors (dict[str, dict | nn.Module]): Preprocessor (or its
            config) of each model, by model name. They must hold no
            persistent state (MMSeg's ``SegDataPreProcessor`` registers mean
            and std as non-persistent buffers), so swapping models swaps no
            preprocessor and checkpoints keep their layout.
        active (str): Name of the model whose preprocessor is used.
    """

    def __init__(self, preprocessors: Dict[str, Union[dict, nn.Module]],
                 active: str) -> None:
        super().__init__()
        built = {}
        for name, pre in preprocessors.items():
            if isinstance(pre, dict):
                pre = MODELS.build(pre)
            if not isinstance(pre, nn.Module):
                raise TypeError(f'preprocessor of model {name!r} must be a '
                                f'dict or nn.Module, got {type(pre).__name__}')
            state = list(pre.state_dict())
            if state:
                raise ValueError(
                    f'the data preprocessor of model {name!r} '
                    f'({type(pre).__name__}) has persistent state {state[:3]}'
                    '; per-model preprocessors must have none')
            built[name] = pre
        self.preprocessors = nn.ModuleDict(built)
        self.active = active

    @property
    def active(self) -> str:
        """Name of the model whose preprocessor :meth:`forward` uses."""
        return self._active

    @active.setter
    def active(self, name: str) -> None:
        if name not in self.preprocessors:
            raise ValueError(f'no data preprocessor for model {name!r}; '
                             f'models are {list(self.preprocessors)}')
        self._active = name

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess ``data`` with the active model's preprocessor.

        Args:
            data (dict): A batch from the dataloader (``inputs``: list of
                ``(3, H, W)`` uint8 tensors, ``data_samples``).
            training (bool): Passed on. Defaults to False.

        Returns:
            dict: ``inputs`` ``(N, 3, H', W')`` float and ``data_samples``,
            as the active model's preprocessor returns them.
        """
        return self.preprocessors[self._active](data, training)

    def to(self, *args, **kwargs) -> nn.Module:
        # each inner preprocessor keeps its own device for ``cast_data``
        for pre in self.preprocessors.values():
            pre.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def cuda(self, *args, **kwargs) -> nn.Module:
        for pre in self.preprocessors.values():
            pre.cuda(*args, **kwargs)
        return super().cuda(*args, **kwargs)

    def cpu(self, *args, **kwargs) -> nn.Module:
        for pre in self.preprocessors.values():
            pre.cpu(*args, **kwargs)
        return super().cpu(*args, **kwargs)


__all__ = ['PerModelDataPreProcessor']
