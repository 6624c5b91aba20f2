# Copyright (c) dmt_mm contributors. All rights reserved.
"""Names of the DMT scalars, and a TensorBoard layout that overlays A and B.

Naming: ``dmt/<quantity>_<model>`` for the mutual procedure (``dmt/val_A``,
``dmt/val_B``) and ``dmt/<quantity>`` for the chain (``dmt/val``), logged
with ``runner.visualizer.add_scalars(..., step=runner.iter)``.

TensorBoard draws one chart per tag. Two ways exist to get A and B on one
chart: a tag shared by two writers ("runs"), which mmengine's single
``TensorboardVisBackend`` writer cannot do, or a *custom-scalars layout*
whose multiline charts select tags by regular expression. We use the
layout (:func:`dmt_scalar_layout`, written once per run by
:func:`write_tensorboard_layout`): the "Custom Scalars" tab shows
``dmt/val_A`` and ``dmt/val_B`` on one chart, while the plain "Scalars" tab
and ``LocalVisBackend``'s ``scalars.json`` keep one flat, greppable tag per
model.
"""
import math
from typing import Dict, Optional

__all__ = [
    'STAGE_SCALARS', 'LABELLING_SCALARS', 'scalar_name', 'stage_scalars',
    'labelling_scalars', 'dmt_scalar_layout', 'write_tensorboard_layout'
]

#: Stage-row key -> scalar quantity (dmt_summary.json ``stages``).
STAGE_SCALARS = {
    'val': 'val',
    'dmt_weight': 'weight',
    'dmt_disagree': 'disagree',
    'dmt_student_wins': 'student_wins',
    'dmt_weight_correct': 'weight_correct',
    'dmt_weight_wrong': 'weight_wrong',
    'dmt_weight_auc': 'weight_auc',
}
#: Labelling-record key -> scalar quantity (dmt_summary.json ``labelling``).
LABELLING_SCALARS = {
    'kept_ratio': 'kept_ratio',
    'pseudo_miou': 'pseudo_miou',
    'kept_miou': 'kept_miou',
    'pseudo_acc': 'pseudo_acc',
    'kept_acc': 'kept_acc',
    'threshold': 'threshold',
}


def scalar_name(quantity: str, model: Optional[str]) -> str:
    """``dmt/<quantity>_<model>``, or ``dmt/<quantity>`` when model is None."""
    return f'dmt/{quantity}' if model is None else f'dmt/{quantity}_{model}'


def _collect(record: dict, keys: Dict[str, str],
             model: Optional[str]) -> Dict[str, float]:
    out = {}
    for key, quantity in keys.items():
        value = record.get(key)
        if value is None or not isinstance(value, (int, float)) or \
                isinstance(value, bool) or math.isnan(value):
            continue
        out[scalar_name(quantity, model)] = float(value)
    return out


def stage_scalars(row: dict) -> Dict[str, float]:
    """Scalars of one finished stage (a ``stages`` row of dmt_summary.json).

    Example: ``{'dmt/val_A': 35.1, 'dmt/weight_A': 0.41,
    'dmt/disagree_A': 0.12, 'dmt/student_wins_A': 0.03}``; missing or None
    values are left out.
    """
    return _collect(row, STAGE_SCALARS, row.get('model'))


def labelling_scalars(record: dict) -> Dict[str, float]:
    """Scalars of one labelling pass (a ``labelling`` record).

    Example: ``{'dmt/kept_ratio_B': 0.21, 'dmt/pseudo_miou_B': 60.2,
    'dmt/kept_miou_B': 81.0}``; missing or None values are left out.
    """
    return _collect(record, LABELLING_SCALARS, record.get('target'))


def dmt_scalar_layout() -> dict:
    """TensorBoard custom-scalars layout: one chart per quantity, A and B on
    it (tags are matched as regular expressions)."""
    model = '(_[^/]+)?$'
    return {
        'DMT': {
            'val metric per stage (A, B)':
            ['Multiline', [f'^dmt/val{model}']],
            'kept ratio per labelling pass':
            ['Multiline', [f'^dmt/kept_ratio{model}']],
            'pseudo-label quality (all, kept)':
            ['Multiline', [f'^dmt/(pseudo|kept)_(miou|acc){model}']],
            'mean dynamic weight':
            ['Multiline', [f'^dmt/weight{model}']],
            'dynamic weight on right / wrong pseudo labels, its ROC AUC':
            ['Multiline', [f'^dmt/weight_(correct|wrong|auc){model}']],
            'disagreement, student wins':
            ['Multiline', [f'^dmt/(disagree|student_wins){model}']],
            'confidence threshold (classification)':
            ['Multiline', [f'^dmt/threshold{model}']],
        }
    }


def write_tensorboard_layout(visualizer) -> bool:
    """Write :func:`dmt_scalar_layout` to the ``TensorboardVisBackend``.

    Args:
        visualizer (Visualizer): ``runner.visualizer``.

    Returns:
        bool: False when the visualizer has no backend named
        ``'TensorboardVisBackend'`` (the default name of that backend).
    """
    backend = visualizer.get_backend('TensorboardVisBackend')
    if backend is None:
        return False
    backend.experiment.add_custom_scalars(dmt_scalar_layout())
    return True
