# Copyright (c) dmt_mm contributors. All rights reserved.
from .hooks import *  # noqa: F401,F403
from .procedures import *  # noqa: F401,F403
from .reporting import DMTReport, format_summary
from .runner import *  # noqa: F401,F403

__all__ = ['DMTReport', 'format_summary']
