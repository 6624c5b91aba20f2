# Copyright (c) dmt_mm contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` share: the launcher options,
the config with the command line applied, and the mmengine ``Runner``.

Both scripts follow MMSegmentation 1.x's; only what differs lives in them.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Any, Optional, Sequence, Tuple

try:
    import dmt_mm  # noqa: F401  (registers modules and safe globals)
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import dmt_mm  # noqa: F401
from dmt_mm.utils.checkpoint import (register_safe_globals,
                                     register_safe_loader)
from dmt_mm.utils.dist_utils import finish_distributed, setup_cpu_distributed

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def parse_with_launcher(parser: argparse.ArgumentParser,
                        argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Add ``--cfg-options``, ``--launcher`` and ``--local-rank``; parse.

    Sets ``os.environ['LOCAL_RANK']`` from ``--local-rank`` when the
    launcher did not set it.

    Args:
        parser (argparse.ArgumentParser): The script's own arguments.
        argv (Sequence[str], optional): Arguments without the program name.
            None: ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes `--local-rank` (torch >= 2.0) or
    # `--local_rank`; torchrun sets the LOCAL_RANK environment variable.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def default_work_dir(config_path: str) -> str:
    """Return ``./work_dirs/<config stem>``, mmseg's default work dir.

    Args:
        config_path (str): Path of the config file.

    Returns:
        str: The work dir, relative to the current directory.
    """
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def load_config(args: argparse.Namespace) -> Config:
    """``args.config`` with ``--launcher``, ``--cfg-options`` and the work
    dir applied.

    Priority of the work dir: ``--work-dir`` > ``work_dir`` in the config >
    :func:`default_work_dir`.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build the default ``Runner``, or ``cfg.runner_type`` from ``RUNNERS``.

    Args:
        cfg (Config): The config.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def run(cfg: Config, method: str) -> Tuple[Runner, Any]:
    """Build the runner of ``cfg`` and call ``runner.<method>()``.

    Allowlists the types of mmengine checkpoints for
    ``torch.load(weights_only=True)`` first; on a machine without CUDA a
    distributed launch runs DDP over gloo.

    Args:
        cfg (Config): The final config.
        method (str): ``'train'`` or ``'test'``.

    Returns:
        tuple[Runner, Any]: The runner and what ``method`` returned.
    """
    register_safe_globals()
    register_safe_loader()
    setup_cpu_distributed(cfg)
    runner = build_runner(cfg)
    result = getattr(runner, method)()
    finish_distributed()
    return runner, result


__all__ = [
    'parse_with_launcher', 'default_work_dir', 'load_config', 'build_runner',
    'run'
]
