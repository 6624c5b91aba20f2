# Copyright (c) dmt_mm contributors. All rights reserved.
"""The command-line end of a dataset converter: run it, time it, and turn
a bad argument into one ``error: ...`` line instead of a traceback."""
from typing import Any, Callable, Optional, Sequence, Tuple, Type

from mmengine.utils import Timer


def call_from_cli(fn: Callable[..., Any],
                  argv: Optional[Sequence[str]],
                  errors: Tuple[Type[BaseException], ...] = (TypeError,
                                                             ValueError),
                  **kwargs) -> Tuple[Any, float]:
    """``fn(**kwargs)`` and the seconds it took.

    Args:
        fn (callable): The converter.
        argv (Sequence[str], optional): The ``argv`` given to ``main``: None
            when run from the shell, where one of ``errors`` exits with
            ``error: <message>`` (status 1); from Python (tests) it is
            raised as it is.
        errors (tuple[type]): The errors that mean a bad argument or input.
            Defaults to ``(TypeError, ValueError)``.
        **kwargs: The arguments of ``fn``.

    Returns:
        tuple: What ``fn`` returned and its wall time in seconds.
    """
    timer = Timer()
    try:
        result = fn(**kwargs)
    except errors as e:
        if argv is None:  # called from the shell: no traceback
            raise SystemExit(f'error: {e}') from e
        raise
    return result, timer.since_start()
