# Copyright (c) dmt_mm contributors. All rights reserved.
"""dmt_mm: Dynamic Mutual Training (arXiv:2004.08514) for OpenMMLab.

Importing the package registers every component (``custom_imports =
dict(imports=['dmt_mm'])`` in a config) and allow-lists the types mmengine
writes into checkpoints for torch's safe (``weights_only``) loading.
"""
from .utils.checkpoint import register_safe_globals

register_safe_globals()

from . import datasets, engine, models, utils, visualization  # noqa: E402,F401

__version__ = '0.1.0'

__all__ = [
    'datasets', 'engine', 'models', 'utils', 'visualization', '__version__'
]
