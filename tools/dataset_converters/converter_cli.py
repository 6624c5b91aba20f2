# Copyright (c) dmt_mm contributors. All rights reserved.
"""The command-line end of a dataset converter: the options of labelled
subsets and of a generated data set's output, the run, its time, its report
line, and a bad argument as one ``error: ...`` line instead of a
traceback."""
import argparse
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type

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


def add_build_args(parser: argparse.ArgumentParser, out_dir: str) -> None:
    """Add ``-o/--out-dir`` and the skip options of a generated data set.

    ``--skip-if-exists`` (the default) keeps a build whose ``meta.json``
    records the same arguments; ``--no-skip-if-exists`` (or ``--force``)
    always regenerates. Both set ``skip_if_exists``.

    Args:
        parser (argparse.ArgumentParser): The converter's parser.
        out_dir (str): Default output root, e.g. ``'data/digit_scenes'``.
    """
    parser.add_argument(
        '-o', '--out-dir', default=out_dir,
        help=f'output root (default: {out_dir})')
    parser.add_argument(
        '--skip-if-exists', dest='skip_if_exists', action='store_true',
        default=True,
        help='do nothing when meta.json records the same arguments '
        '(default)')
    parser.add_argument(
        '--no-skip-if-exists', '--force', dest='skip_if_exists',
        action='store_false', help='always regenerate')


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


def build_from_cli(build: Callable[..., Dict], args: argparse.Namespace,
                   argv: Optional[Sequence[str]], up_to_date: str,
                   wrote: Callable[[Dict, float], str]) -> Dict:
    """Run a data set builder with the parsed options and print one line.

    Args:
        build (callable): The builder; its keyword arguments are the
            options' names (``out_dir``, ``skip_if_exists``, ...). It returns
            a summary with ``out_dir``, ``skipped`` and ``content_hash``.
        args (argparse.Namespace): The parsed options.
        argv (Sequence[str], optional): As for :func:`call_from_cli`.
        up_to_date (str): The line of a skipped build, formatted with the
            summary, e.g. ``'digit scenes in {out_dir} are up to date'``;
            the start of the content hash follows it.
        wrote (callable): ``wrote(summary, seconds)``: the line of a build
            that wrote its files.

    Returns:
        dict: The summary.
    """
    summary, seconds = call_from_cli(build, argv, **vars(args))
    if summary['skipped']:
        print(f'{up_to_date.format(**summary)} '
              f'({summary["content_hash"][:19]}...)')
    else:
        print(wrote(summary, seconds))
    return summary
