# Copyright (c) dmt_mm contributors. All rights reserved.
from .base import BaseProcedure
from .chain import ChainProcedure
from .mutual import TEACHERS, MutualProcedure

__all__ = [
    'BaseProcedure', 'ChainProcedure', 'MutualProcedure', 'TEACHERS'
]
