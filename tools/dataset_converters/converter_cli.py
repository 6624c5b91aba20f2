# Copyright (c) dmt_mm contributors. All rights reserved.
"""The command-line end of a dataset converter: the options of labelled
subsets, the run, its time, and a bad argument as one ``error: ...`` line
instead of a traceback."""
import argparse
from typing import Any, Callable, Optional, Sequence, Tuple, Type

from mmengine.utils import Timer


def add_subset_args(parser: argparse.ArgumentParser,
                    num_labeled: Sequence[int],
                    seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> None:
    """Add ``--num-labeled`` and ``--seeds`` (class-balanced subsets).

    Args:
        parser (argparse.ArgumentParser): The converter's parser.
        num_labeled (Sequence[int]): Default labelled sizes.
        seeds (Sequence[int]): Default seeds. Defaults to 0 .. 4.
    """
    parser.add_argument(
        '--num-labeled', type=int, nargs='+', default=list(num_labeled),
        help='labelled sizes, multiples of 10 (default: '
        f'{" ".join(map(str, num_labeled))})')
    parser.add_argument(
        '--seeds', type=int, nargs='+', default=list(seeds),
        help='seeds of the labelled subsets (default: '
        f'{" ".join(map(str, seeds))})')


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
