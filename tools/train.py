# Copyright (c) dmt_mm contributors. All rights reserved.
"""Train a model (plain or DMT) with the mmengine Runner.

Modelled on ``tools/train.py`` of MMSegmentation 1.x::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--tensorboard] [--cfg-options key=value ...]
        [--launcher {none,pytorch,slurm,mpi}]

``import dmt_mm`` registers every dmt_mm component and makes mmengine load
local checkpoints with :func:`~dmt_mm.utils.checkpoint.load_checkpoint_safely`
(see :mod:`dmt_mm.utils.checkpoint`), so ``--resume`` and ``load_from`` work,
without unrestricted unpickling, on torch 2.1 to 2.14 even when a config
forgets ``custom_imports``.
"""
import argparse
import importlib.util
import logging
import os.path as osp
import sys
import zipfile
from typing import List, Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

if osp.dirname(osp.abspath(__file__)) not in sys.path:  # loaded by path
    sys.path.append(osp.dirname(osp.abspath(__file__)))
from runner_cli import (build_runner, default_work_dir,  # noqa: E402
                        load_config, parse_with_launcher, run)

#: Optimizer wrapper types ``--amp`` may replace by ``AmpOptimWrapper``.
_PLAIN_OPTIM_WRAPPERS = ('OptimWrapper', 'mmengine.OptimWrapper')
_AMP_OPTIM_WRAPPERS = ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.
            Defaults to None (``sys.argv[1:]``).

    Returns:
        argparse.Namespace: ``config``, ``work_dir``, ``resume`` (None,
        ``'auto'`` or a checkpoint path), ``amp``, ``tensorboard``,
        ``cfg_options``, ``launcher`` and ``local_rank``. Sets
        ``os.environ['LOCAL_RANK']`` from ``--local-rank`` when the launcher
        did not set it.
    """
    parser = argparse.ArgumentParser(
        description='Train a segmentor/classifier (plain or DMT)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        default=None,
        help='resume training; without a value, from the latest checkpoint '
        'in the work dir (cfg.resume=True); with a checkpoint path, from '
        'that checkpoint')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (needs CUDA; on a '
        'machine without a GPU a warning is printed and training stays fp32)')
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        default=False,
        help='also log to TensorBoard: adds TensorboardVisBackend to '
        'visualizer.vis_backends (LocalVisBackend is kept); event files go '
        'to WORK_DIR/<timestamp>/vis_data/')
    return parse_with_launcher(parser, argv)


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def enable_amp(cfg: Config, cuda_available: Optional[bool] = None) -> bool:
    """Switch ``cfg.optim_wrapper`` to ``AmpOptimWrapper`` (dynamic scale).

    mmengine's ``AmpOptimWrapper`` asserts that a GPU (or NPU/MLU/MUSA) is
    present, so on a CPU-only machine the config is left in fp32 and a
    warning says so rather than failing at runner build.

    Args:
        cfg (Config): The config, changed in place.
        cuda_available (bool, optional): Override the CUDA check (tests).
            Defaults to None (``torch.cuda.is_available()``).

    Returns:
        bool: Whether the config now trains with AMP.

    Raises:
        ValueError: If the config has no ``optim_wrapper`` or its type is
            neither ``OptimWrapper`` nor ``AmpOptimWrapper``.
    """
    optim_wrapper = cfg.get('optim_wrapper', None)
    if not isinstance(optim_wrapper, dict):
        raise ValueError('`--amp` needs a config with an `optim_wrapper` '
                         f'dict, but got optim_wrapper={optim_wrapper!r}')
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type in _AMP_OPTIM_WRAPPERS:
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
        return True
    if wrapper_type not in _PLAIN_OPTIM_WRAPPERS:
        raise ValueError(
            '`--amp` is only supported when the optimizer wrapper type is '
            f'`OptimWrapper`, but got optim_wrapper.type={wrapper_type!r}')
    if cuda_available is None:
        cuda_available = _cuda_available()
    if not cuda_available:
        print_log(
            '`--amp` was given but CUDA is not available: mmengine\'s '
            'AmpOptimWrapper only runs on a GPU (or NPU/MLU/MUSA), so '
            'training continues in fp32.',
            logger='current',
            level=logging.WARNING)
        return False
    optim_wrapper['type'] = 'AmpOptimWrapper'
    optim_wrapper['loss_scale'] = 'dynamic'
    return True


def _type_name(cfg) -> str:
    t = cfg.get('type', '') if isinstance(cfg, dict) else type(cfg).__name__
    t = t if isinstance(t, str) else getattr(t, '__name__', str(t))
    return t.rsplit('.', 1)[-1]


def enable_tensorboard(cfg: Config) -> None:
    """Add ``TensorboardVisBackend`` to ``cfg.visualizer.vis_backends``.

    The backends already configured are kept (a config without any also
    gets ``LocalVisBackend``, so images still land on disk). The config
    switch without this flag::

        visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
                                        dict(type='TensorboardVisBackend')])

    Args:
        cfg (Config): The config, changed in place.

    Raises:
        ValueError: If the config has no ``visualizer`` dict.
        ImportError: If the ``tensorboard`` package is missing (checked
            here, not at the first logged scalar).
    """
    visualizer = cfg.get('visualizer', None)
    if not isinstance(visualizer, dict):
        raise ValueError('`--tensorboard` needs a config with a `visualizer` '
                         f'dict, but got visualizer={visualizer!r}')
    if importlib.util.find_spec('tensorboard') is None:
        raise ImportError('`--tensorboard` needs the tensorboard package: '
                          'pip install tensorboard')
    backends = list(visualizer.get('vis_backends') or [])
    names = [_type_name(b) for b in backends]
    if not backends:
        backends.append(dict(type='LocalVisBackend'))
    if 'TensorboardVisBackend' not in names:
        backends.append(dict(type='TensorboardVisBackend'))
    visualizer['vis_backends'] = backends


def build_train_cfg(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options.

    Priority of the work dir: ``--work-dir`` > ``work_dir`` in the config >
    ``./work_dirs/<config stem>``.

    Args:
        args (argparse.Namespace): The result of :func:`parse_args`.

    Returns:
        Config: The config to build the runner from.
    """
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    if getattr(args, 'tensorboard', False):
        enable_tensorboard(cfg)

    if args.resume == 'auto':
        set_auto_resume(cfg)
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def set_auto_resume(cfg: Config) -> bool:
    """Resume from the latest checkpoint of ``cfg.work_dir`` (``--resume``).

    mmengine resumes from ``load_from`` when ``resume=True`` and
    ``load_from`` is set, so ``load_from`` is cleared to make the Runner look
    up ``work_dir/last_checkpoint``. When the work dir has no checkpoint yet
    and the config's ``load_from`` initialises the model (pretrained or
    phase-0 weights), that initialisation is kept and training starts from
    iteration 0 instead of resuming from the initial weights.

    Args:
        cfg (Config): The config with its final ``work_dir``, changed in
            place.

    Returns:
        bool: Whether the run will resume (``cfg.resume``).
    """
    if cfg.get('load_from', None) is not None and \
            not osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint')):
        print_log(
            f'--resume: no checkpoint in {cfg.work_dir} yet, starting a new '
            f'run initialised from load_from={cfg.load_from}',
            logger='current',
            level=logging.WARNING)
        cfg.resume = False
        return False
    check_last_checkpoint(cfg.work_dir)
    cfg.resume = True
    cfg.load_from = None
    return True


def check_last_checkpoint(work_dir: str) -> None:
    """Refuse to resume from a checkpoint that is missing or incomplete.

    ``last_checkpoint`` is written only after its checkpoint is complete,
    so a run killed while saving leaves it naming the previous, complete
    one; this catches a work dir that was copied or cleaned by hand.
    """
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return
    with open(marker) as f:
        path = f.read().strip()
    if not path or not osp.isfile(path):
        raise FileNotFoundError(
            f'{marker} names {path!r}, which does not exist; resume from a '
            'checkpoint that does: --resume <work_dir>/<file>.pth')
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f'{marker} names {path}, which is not a complete checkpoint (cut '
            'short while it was written?); resume from an earlier one: '
            '--resume <work_dir>/<file>.pth')


def main(argv: Optional[Sequence[str]] = None) -> Runner:
    """Entry point: parse ``argv``, build the runner and train.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.
            Defaults to None (``sys.argv[1:]``).

    Returns:
        Runner: The runner after training.
    """
    return run(build_train_cfg(parse_args(argv)), 'train')[0]


__all__: List[str] = [
    'parse_args', 'default_work_dir', 'enable_amp', 'enable_tensorboard',
    'set_auto_resume', 'check_last_checkpoint', 'build_train_cfg',
    'build_runner', 'main'
]

if __name__ == '__main__':
    main()
