# Copyright (c) dmt_mm contributors. All rights reserved.
"""Phase 0 from models already trained: ``train_cfg.phase0_from``.

Most users of semi-supervised training have a labelled-only model before
they add unlabelled images, and the public DMT code runs phase 0 as a job of
its own too: every round continues from a checkpoint. Given
``train_cfg.phase0_from``, :class:`~dmt_mm.engine.DMTTrainLoop` trains no
phase-0 iteration. It loads each model's weights, validates them as that
model's phase-0 stage (so the per-phase table, ``dmt_summary.json``, the
plots and the monitor's "below phase 0" rule see them as if phase 0 had
trained them), writes the phase-0 stage checkpoints and goes on to phase 1.

Accepted checkpoints, read with
:func:`~dmt_mm.utils.checkpoint.load_checkpoint_safely` (never with
unrestricted pickle):

- a plain MMSeg / MMPretrain checkpoint written by ``tools/train.py`` of a
  labelled-only config (its ``state_dict``; with an ``EMAHook`` those are
  the EMA weights, which is what a chain's teacher is);
- a model exported by ``tools/export_model.py``;
- a dmt_mm stage checkpoint such as ``phase0_A.pth``: it holds both models
  of a ``DMTSegmentor``, and the model of the same name is taken
  (:func:`~dmt_mm.models.segmentors.dmt_model_state`).

Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
Learning", arXiv:2004.08514.
"""
import os.path as osp
from collections.abc import Mapping
from typing import Dict, Optional, Sequence

import torch

from dmt_mm.models.segmentors import dmt_model_state
from dmt_mm.utils.checkpoint import load_checkpoint_safely

FIELD = 'train_cfg.phase0_from'


def _field(name: Optional[str]) -> str:
    return FIELD if name is None else f'{FIELD}.{name}'


def check_phase0_from(value, procedure: str, model_names: Sequence[str],
                      cfg: Optional[dict] = None) -> Dict[Optional[str], str]:
    """Check the form of ``train_cfg.phase0_from`` (no file is read).

    Args:
        value: ``dict(A=path, B=path)`` for the mutual procedure (one
            checkpoint per model), one path for the chain.
        procedure (str): ``'mutual'`` or ``'chain'``.
        model_names (Sequence[str]): The models of the mutual procedure.
        cfg (dict, optional): The run's config: ``load_from`` (other
            weights for the whole model) is refused beside it, except as
            the checkpoint a ``--resume`` continues from.

    Returns:
        dict: ``{model name: path}``; the chain's one model is ``None``.
    """
    cfg = cfg or {}
    if cfg.get('load_from') and not cfg.get('resume'):
        raise ValueError(
            f'give {FIELD} (the phase-0 weights of each model) or load_from, '
            f'not both; got load_from={cfg.get("load_from")!r}')
    if procedure == 'chain':
        if not isinstance(value, str) or not value:
            raise TypeError(
                f"{FIELD} of the chain (procedure='chain') is the path of "
                f'one checkpoint, got {value!r}')
        return {None: value}
    names = tuple(model_names)
    if not isinstance(value, Mapping):
        raise TypeError(
            f'{FIELD} of the mutual procedure maps each model to a '
            "checkpoint, e.g. dict(A='work_dirs/sup_a/iter_4000.pth', "
            f"B='work_dirs/sup_b/iter_4000.pth'); got {value!r}")
    for name in value:
        if name not in names:
            raise ValueError(f'{FIELD} names model {name!r}, which is not '
                             f'one of model.model_names {names}')
    for name in names:
        if name not in value:
            raise ValueError(
                f'{FIELD} gives no checkpoint for model {name!r} (got '
                f'{dict(value)!r}): phase 0 is loaded for every model of '
                f'{names} or trained for every one')
        if not isinstance(value[name], str) or not value[name]:
            raise TypeError(f'{_field(name)} must be a checkpoint path, got '
                            f'{value[name]!r}')
    return {name: value[name] for name in names}


def read_phase0_state(path: str, name: Optional[str],
                      template: Dict[str, torch.Tensor],
                      model_names: Sequence[str] = ()) -> dict:
    """The weights of model ``name`` in checkpoint ``path``, checked against
    ``template`` (the model's own state dict: names and shapes)."""
    field = _field(name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{field}: checkpoint {path!r} not found')
    ckpt = load_checkpoint_safely(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, Mapping):
        raise TypeError(f'{field}: {path} holds no state_dict')
    if 'active_index' in state:  # a dmt_mm stage checkpoint: both models
        if name is None:
            raise ValueError(
                f'{field}: {path} is a two-model DMTSegmentor checkpoint; '
                'the chain takes the checkpoint of one classifier')
        state = dmt_model_state(state, name, model_names)
    model = 'the model' if name is None else f'model {name}'
    missing = [k for k in template if k not in state]
    unexpected = [k for k in state if k not in template]
    if missing or unexpected:
        raise ValueError(
            f'{field}: the weights in {path} do not fit {model}: missing '
            f'keys {missing[:3]} ({len(missing)} in all), unexpected keys '
            f'{unexpected[:3]} ({len(unexpected)} in all). Give a checkpoint '
            'of the same architecture (its labelled-only config)')
    for key, want in template.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise ValueError(
                f'{field}: {key} has shape {tuple(got.shape)} in {path} but '
                f'{tuple(want.shape)} in {model}')
    return dict(state)


def load_phase0_states(sources: Dict[Optional[str], str],
                       template: Dict[str, torch.Tensor],
                       model_names: Sequence[str] = ()) -> dict:
    """Read and check the phase-0 weights of every model of ``sources``
    (:func:`check_phase0_from`'s result); two models with identical weights
    are refused: mutual training would have nothing to disagree about."""
    states = {
        name: read_phase0_state(path, name, template, model_names)
        for name, path in sources.items()
    }
    if len(states) == 2:
        (a, sa), (b, sb) = states.items()
        if all(torch.equal(sa[k], sb[k]) for k in sa):
            raise ValueError(
                f'{FIELD} gives models {a} and {b} the same weights '
                f'({sources[a]}, {sources[b]}): mutual training then has '
                'nothing to disagree about, and DMT needs two differently '
                'initialised models. Train the labelled-only config twice '
                '(another seed, or another labelled subset) or give one '
                'model other weights')
    return states


__all__ = ['check_phase0_from', 'read_phase0_state', 'load_phase0_states']
