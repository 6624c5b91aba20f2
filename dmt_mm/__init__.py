# Copyright (c) dmt_mm contributors. All rights reserved.
"""dmt_mm: Dynamic Mutual Training (arXiv:2004.08514) for OpenMMLab.

Importing the package registers every component (``custom_imports =
dict(imports=['dmt_mm'])`` in a config), allow-lists the types mmengine
writes into checkpoints for torch's safe (``weights_only``) loading and makes
mmengine load local checkpoints that way on every torch version
(:mod:`dmt_mm.utils.checkpoint`).
"""
from .utils.checkpoint import register_safe_globals, register_safe_loader

register_safe_globals()
register_safe_loader()

from . import datasets, engine, models, utils, visualization  # noqa: E402,F401

__version__ = '0.1.0'

__all__ = [
    'datasets', 'engine', 'models', 'utils', 'visualization', '__version__'
]
