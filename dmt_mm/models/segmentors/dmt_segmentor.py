# Copyright (c) dmt_mm contributors. All rights reserved.
import copy
from collections import OrderedDict
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from dmt_mm.models.losses.dmt_loss import DMTLoss
from .per_model_preprocessor import PerModelDataPreProcessor
from .state_bank import StateBank


@MODELS.register_module()
class DMTSegmentor(BaseModel):
    """Two segmentors trained by Dynamic Mutual Training in one Runner.

    The *student slot* (``self.student``) is an ordinary MMSeg segmentor and
    holds the only parameters the optimizer and DDP see. The other model's
    weights (parameters and BN statistics) live in ``self.bank`` as buffers.
    :meth:`activate` swaps the two by copying tensors in place, so optimizer
    and DDP references stay valid. The mutual procedure of
    :class:`DMTTrainLoop` drives the swaps; ``state_dict`` holds both models
    and ``active_index``, so a checkpoint resumes (or tests) either model.

    During training a batch may mix labelled samples and pseudo-labelled ones
    (meta key ``is_pseudo``, teacher confidence in ``data_sample.
    teacher_conf``, hidden truth, where known, in ``true_sem_seg``); the
    segmentor hands them to every :class:`DMTLoss` of the student through its
    batch context, so any MMSeg decode head works. After each such ``loss``,
    ``last_weight_hist`` holds the first DMTLoss's weight histogram of right
    and wrong pseudo labels (None without the truth), which
    :class:`~dmt_mm.engine.MutualTrainingHook` adds to the stage report.

    Each model has its own data preprocessor: the ``data_preprocessor`` of
    its segmentor config (``segmentor`` merged with ``model_overrides[name]``).
    When the two differ (the paper's model A takes the Caffe input of the
    MS-COCO DeepLab-v2, model B the ImageNet input), ``self.data_preprocessor``
    is a :class:`PerModelDataPreProcessor` that routes every batch of
    ``train_step``/``val_step``/``test_step`` (and of the DDP wrapper, which
    calls ``data_preprocessor`` itself) to the model in the student slot; the
    student's own ``data_preprocessor`` is the same router, so its
    ``test_step`` routes as well. When they are equal, one ordinary
    preprocessor serves both, as before.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", Pattern Recognition 2022, arXiv:2004.08514.

    Args:
        segmentor (dict): Config of the MMSeg segmentor (e.g. an
            ``EncoderDecoder``) both models share, ``data_preprocessor``
            included.
        model_names (Sequence[str]): Names of the two models.
            Defaults to ``('A', 'B')``.
        model_overrides (dict, optional): Per-name config merged into
            ``segmentor`` (e.g. a different ``init_cfg`` for diversity, or a
            ``data_preprocessor`` with another mean/std for one model).
        eval_model (str, optional): Model that ``val_step``/``test_step``
            put in the student slot (before preprocessing) and evaluate;
            None evaluates the model in the student slot (what training
            validation and the labelling pass want). ``tools/test.py`` sets
            it. Defaults to None.
        data_preprocessor (dict | nn.Module, optional): One preprocessor for
            both models (older configs). Leave None (the default) to use
            each model's own; if given, it must equal the models' own
            preprocessor configs, which must then be equal. Note that
            mmengine's ``Runner`` fills it from a config's top-level
            ``data_preprocessor`` when the model dict has no such key.
        init_cfg (dict, optional): Unused; each model initialises itself.
    """

    def __init__(self,
                 segmentor: dict,
                 model_names: Sequence[str] = ('A', 'B'),
                 model_overrides: Optional[Dict[str, dict]] = None,
                 eval_model: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        model_names = tuple(model_names)
        if len(model_names) != 2 or len(set(model_names)) != 2:
            raise ValueError('model_names must be two distinct names, got '
                             f'{model_names!r}')
        model_overrides = dict(model_overrides or {})
        unknown = set(model_overrides) - set(model_names)
        if unknown:
            raise ValueError(f'model_overrides has unknown model names '
                             f'{sorted(unknown)}; models are {model_names}')
        if eval_model is not None and eval_model not in model_names:
            raise ValueError(f'eval_model must be one of {model_names} or '
                             f'None, got {eval_model!r}')
        if isinstance(segmentor, ConfigDict):
            segmentor = segmentor.to_dict()
        cfgs = {
            name: self._model_cfg(segmentor, model_overrides.get(name))
            for name in model_names
        }
        own = {n: cfgs[n].get('data_preprocessor') for n in model_names}
        per_model = not _same_cfg(*own.values())
        first = own[model_names[0]]
        if data_preprocessor is None:
            data_preprocessor = (
                PerModelDataPreProcessor(own, active=model_names[0])
                if per_model else first)
        elif per_model or (isinstance(data_preprocessor, dict)
                           and first is not None
                           and not _same_cfg(first, data_preprocessor)):
            raise ValueError(
                f'model.data_preprocessor={data_preprocessor} is not the '
                f'data_preprocessor of the models ({own}: '
                'segmentor.data_preprocessor merged with model_overrides); '
                'set model.data_preprocessor=None so that each model uses its '
                "own (mmengine's Runner fills it from the config's top-level "
                'data_preprocessor when the model dict has none)')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.model_names = model_names
        self.eval_model = eval_model
        self._cfgs = cfgs
        self.student = MODELS.build(self._cfgs[model_names[0]])
        if isinstance(self.data_preprocessor, PerModelDataPreProcessor):
            # the student's own test_step routes too (one shared module; no
            # persistent state, so the state dict layout is unchanged)
            self.student.data_preprocessor = self.data_preprocessor
            self.register_load_state_dict_post_hook(_route_after_load)
        self.bank = StateBank(self.student.state_dict())
        self.register_buffer('active_index', torch.zeros((), dtype=torch.long))
        self._dmt_losses: List[DMTLoss] = [
            m for m in self.student.modules() if isinstance(m, DMTLoss)
        ]
        self._warned_no_dmt_loss = False
        self.last_weight_hist: Optional[Tensor] = None
        # DDP must neither broadcast nor reduce the stored model.
        self._ddp_params_and_buffers_to_ignore = [
            f'bank.{n}' for n, _ in self.bank.named_buffers()
        ] + ['active_index']

    @staticmethod
    def _model_cfg(segmentor: dict, override: Optional[dict]) -> dict:
        cfg = Config(dict(m=copy.deepcopy(segmentor)))
        if override:
            cfg.merge_from_dict(dict(m=copy.deepcopy(dict(override))))
        return cfg.m

    # ------------------------------------------------------------ the models
    @property
    def active_name(self) -> str:
        return self.model_names[int(self.active_index)]

    def other_name(self, name: str) -> str:
        """The partner of model ``name``."""
        return self.model_names[1 - self.model_names.index(name)]

    def init_weights(self) -> None:
        """Initialise both models independently (each with its own cfg)."""
        self.student.init_weights()
        other = MODELS.build(self._cfgs[self.model_names[1]])
        other.init_weights()
        with torch.no_grad():
            self._copy_state(other.state_dict(), self._bank_state())
        self._set_active(self.model_names[0])
        del other

    def _bank_state(self) -> Dict[str, Tensor]:
        return self.bank.state_dict(keep_vars=True)

    @staticmethod
    def _copy_state(src: Dict[str, Tensor], dst: Dict[str, Tensor]) -> None:
        if src.keys() != dst.keys():
            missing = sorted(set(dst) - set(src))[:5]
            extra = sorted(set(src) - set(dst))[:5]
            raise KeyError(f'state mismatch: missing {missing}, '
                           f'unexpected {extra}')
        for k, v in src.items():
            dst[k].data.copy_(v.data if isinstance(v, Tensor) else v)

    @torch.no_grad()
    def activate(self, name: str) -> None:
        """Put model ``name`` in the student slot (in-place swap)."""
        if name not in self.model_names:
            raise ValueError(f'unknown model {name!r}; models are '
                             f'{self.model_names}')
        if name == self.active_name:
            return
        student = self.student.state_dict(keep_vars=True)
        bank = self._bank_state()
        for k, s in student.items():
            b = bank[k]
            tmp = s.data.clone()
            s.data.copy_(b.data)
            b.data.copy_(tmp)
        self._set_active(name)

    def _set_active(self, name: str) -> None:
        self.active_index.fill_(self.model_names.index(name))
        self._route_preprocessor(name)

    def _route_preprocessor(self, name: Optional[str] = None) -> None:
        """Point the per-model preprocessor at model ``name`` (default: the
        one ``active_index`` names)."""
        if isinstance(self.data_preprocessor, PerModelDataPreProcessor):
            self.data_preprocessor.active = name or self.active_name

    def model_state_dict(self, name: str) -> 'OrderedDict[str, Tensor]':
        """Plain MMSeg state dict (detached copies) of model ``name``."""
        if name not in self.model_names:
            raise ValueError(f'unknown model {name!r}; models are '
                             f'{self.model_names}')
        src = (self.student.state_dict()
               if name == self.active_name else self.bank.state_dict())
        return OrderedDict((k, v.detach().clone()) for k, v in src.items())

    # ----------------------------------------------------------------- steps
    def _activate_eval_model(self) -> None:
        if self.eval_model is not None and self.eval_model != self.active_name:
            self.activate(self.eval_model)

    def val_step(self, data) -> list:
        """Predict with ``eval_model`` (else the active model), preprocessed
        by that model's data preprocessor."""
        self._activate_eval_model()
        return super().val_step(data)

    def test_step(self, data) -> list:
        """Like :meth:`val_step`. With ``eval_model=None`` this is the
        labelling pass's call: ``activate(name)`` then ``test_step(data)``
        returns model ``name``'s ``seg_logits``/``pred_sem_seg``."""
        self._activate_eval_model()
        return super().test_step(data)

    # --------------------------------------------------------------- forward
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.student(inputs, data_samples, mode='tensor')
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def _pseudo_context(self, data_samples: SampleList
                        ) -> Tuple[Optional[Tensor], Tensor, Optional[Tensor]]:
        """Teacher confidence ``(N, H, W)``, pseudo flags ``(N, )`` and the
        hidden truth ``(N, H, W)`` (255 where unknown; None if no sample
        has it), padded to the (padded) label size."""
        is_pseudo = torch.tensor(
            [bool(ds.metainfo.get('is_pseudo', False)) for ds in data_samples],
            dtype=torch.bool)
        if not is_pseudo.any():
            return None, is_pseudo, None
        confs, truths = [], []
        for ds, pseudo in zip(data_samples, is_pseudo.tolist()):
            gt = ds.gt_sem_seg.data[0]
            if 'teacher_conf' in ds:
                conf = _pad_to(ds.teacher_conf.data[0].float(), gt, 0)
            elif pseudo:
                raise KeyError('a pseudo-labelled sample has no teacher_conf;'
                               ' its pipeline must end with PackDMTSegInputs')
            else:
                conf = gt.new_zeros(gt.shape, dtype=torch.float)
            confs.append(conf)
            truths.append(
                _pad_to(ds.true_sem_seg.data[0].long(), gt, 255) if
                'true_sem_seg' in ds else gt.new_full(gt.shape, 255).long())
        truth = torch.stack(truths) if any(
            'true_sem_seg' in ds for ds in data_samples) else None
        return torch.stack(confs), is_pseudo.to(confs[0].device), truth

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Student loss on a (possibly mixed) batch.

        Args:
            inputs (Tensor): ``(N, 3, H, W)`` images.
            data_samples (list[SegDataSample]): with ``gt_sem_seg`` (ground
                truth or pseudo label) and, for pseudo samples, ``is_pseudo``
                in the metainfo and ``teacher_conf``.

        Returns:
            dict: the student's losses, plus ``dmt_weight``, ``dmt_disagree``
            and ``dmt_student_wins`` (logged, not optimised) when the batch
            has pseudo-labelled samples.
        """
        teacher_conf, is_pseudo, truth = self._pseudo_context(data_samples)
        self.last_weight_hist = None
        if teacher_conf is None:
            return self.student.loss(inputs, data_samples)
        if not self._dmt_losses and not self._warned_no_dmt_loss:
            warnings.warn('the student has no DMTLoss: pseudo labels are '
                          'trained with full weight (plain self-training)')
            self._warned_no_dmt_loss = True
        for m in self._dmt_losses:
            m.set_pseudo_context(teacher_conf, is_pseudo, truth)
        try:
            losses = self.student.loss(inputs, data_samples)
        finally:
            for m in self._dmt_losses:
                m.clear_pseudo_context()
        if self._dmt_losses and self._dmt_losses[0].last_stats:
            for k, v in self._dmt_losses[0].last_stats.items():
                losses[k] = v
            self.last_weight_hist = self._dmt_losses[0].last_weight_hist
        return losses

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        self._activate_eval_model()
        return self.student.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples=None):
        return self.student(inputs, data_samples, mode='tensor')


def _pad_to(x: Tensor, gt: Tensor, value) -> Tensor:
    """Pad ``x`` ``(H', W')`` right/bottom to ``gt``'s ``(H, W)``."""
    if x.shape == gt.shape:
        return x
    return F.pad(x, (0, gt.shape[1] - x.shape[1], 0, gt.shape[0] - x.shape[0]),
                 value=value)


def _same_cfg(a, b) -> bool:
    """Equal configs, ignoring the ``_scope_`` key that ``Config`` adds."""
    def strip(d):
        return None if d is None else {
            k: v for k, v in dict(d).items() if k != '_scope_'}
    return strip(a) == strip(b)


def _route_after_load(module: DMTSegmentor, incompatible_keys) -> None:
    """State-dict post hook: ``active_index`` may have changed."""
    module._route_preprocessor()


__all__ = ['DMTSegmentor']
