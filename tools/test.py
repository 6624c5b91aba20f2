# Copyright (c) dmt_mm contributors. All rights reserved.
"""Test (and evaluate) a checkpoint with the mmengine Runner.

Modelled on ``tools/test.py`` of MMSegmentation 1.x::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out OUT]
        [--show] [--show-dir DIR] [--model {A,B}]
        [--cfg-options key=value ...] [--launcher {none,pytorch,slurm,mpi}]

``--model`` picks which of the two mutually trained models of a DMT config
(``model.type='DMTSegmentor'``) is evaluated by setting ``model.eval_model``
(default: the config's ``model.eval_model``, else ``A``); a plain config has
one model and rejects it.

``--out`` saves the predictions: a directory (MMSeg) sets ``output_dir`` and
``keep_results=True`` on the segmentation metrics (``IoUMetric``,
``CityscapesMetric``) like mmseg's own script; a ``.pkl`` file adds
mmengine's ``DumpResults`` metric (MMPretrain's convention), which works with
any task.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

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

#: ``model.type`` of configs that hold two DMT models (A and B).
DMT_WRAPPER_TYPES = ('DMTSegmentor', )
#: Default ``model.model_names`` of a DMT wrapper.
DMT_MODEL_NAMES = ('A', 'B')
#: Metric types that take ``output_dir`` / ``keep_results`` (MMSeg).
SEG_OUTPUT_METRICS = ('IoUMetric', 'CityscapesMetric')
_PICKLE_SUFFIXES = ('.pkl', '.pickle')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.
            Defaults to None (``sys.argv[1:]``).

    Returns:
        argparse.Namespace: ``config``, ``checkpoint``, ``work_dir``,
        ``out``, ``show``, ``show_dir``, ``wait_time``, ``model``,
        ``cfg_options``, ``launcher`` and ``local_rank``. Sets
        ``os.environ['LOCAL_RANK']`` from ``--local-rank`` when the launcher
        did not set it.
    """
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a segmentor/classifier (plain or '
        'DMT)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='where to save the predictions: a directory (segmentation '
        'masks for offline evaluation, sets output_dir/keep_results of the '
        'seg metric) or a .pkl file (dump of all predictions)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. If specified, '
        'it will be automatically saved to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--model',
        default=None,
        metavar='{A,B}',
        help='DMT configs only: which of the two models to evaluate, one of '
        "model.model_names (default ('A', 'B')) (default: model.eval_model "
        'of the config, else the first name)')
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
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _strip_scope(type_name) -> str:
    """``'mmseg.IoUMetric'`` -> ``'IoUMetric'``; non-strings pass through."""
    if isinstance(type_name, str):
        return type_name.rsplit('.', 1)[-1]
    return getattr(type_name, '__name__', type_name)


def default_work_dir(config_path: str) -> str:
    """Return ``./work_dirs/<config stem>``, mmseg's default work dir.

    Args:
        config_path (str): Path of the config file.

    Returns:
        str: The work dir, relative to the current directory.
    """
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def is_dmt_config(cfg: Config) -> bool:
    """Whether ``cfg.model`` is a DMT wrapper holding models A and B.

    Args:
        cfg (Config): The config.

    Returns:
        bool: True if ``cfg.model.type`` is one of :data:`DMT_WRAPPER_TYPES`
        (with or without a registry scope such as ``'dmt_mm.'``).
    """
    model = cfg.get('model', None)
    if not isinstance(model, dict):
        return False
    return _strip_scope(model.get('type', None)) in DMT_WRAPPER_TYPES


def select_eval_model(cfg: Config, model: Optional[str]) -> Optional[str]:
    """Apply ``--model``: set ``cfg.model.eval_model`` for DMT configs.

    Args:
        cfg (Config): The config, changed in place.
        model (str, optional): A name in ``cfg.model.model_names`` (default
            ``('A', 'B')``), or None: keep the config's ``model.eval_model``
            if it sets one, else the first name (``'A'``).

    Returns:
        str | None: The model that will be evaluated, or None for a plain
        config.

    Raises:
        ValueError: If ``model`` is not a model name of the DMT config, or if
            it is given for a config whose model is not a DMT wrapper.
    """
    if is_dmt_config(cfg):
        names = tuple(cfg.model.get('model_names', None) or DMT_MODEL_NAMES)
        if model is not None and model not in names:
            raise ValueError(f'--model must be one of the DMT models {names}, '
                             f'but got {model!r}')
        cfg.model['eval_model'] = model or cfg.model.get('eval_model',
                                                         None) or names[0]
        return cfg.model['eval_model']
    if model is not None:
        model_type = cfg.get('model', {}).get('type', None) \
            if isinstance(cfg.get('model', None), dict) else None
        raise ValueError(
            f'--model {model} selects one of the two models of a DMT config '
            f'(model.type in {DMT_WRAPPER_TYPES}), but this config has '
            f'model.type={model_type!r}, a single model; drop --model.')
    return None


def _evaluator_metrics(evaluator) -> list:
    """The metric config dicts of ``test_evaluator`` (dict, list or
    ``dict(type='Evaluator', metrics=...)``), as a mutable list view."""
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        metrics = evaluator['metrics']
        return list(metrics) if isinstance(metrics, (list, tuple)) \
            else [metrics]
    if isinstance(evaluator, (list, tuple)):
        return list(evaluator)
    return [evaluator]


def set_prediction_output(cfg: Config, out: str) -> None:
    """Apply ``--out`` to ``cfg.test_evaluator``.

    Args:
        cfg (Config): The config, changed in place.
        out (str): A ``.pkl``/``.pickle`` file: add a ``DumpResults`` metric
            that dumps every prediction. Otherwise a directory: set
            ``output_dir=out`` and ``keep_results=True`` on the metrics in
            :data:`SEG_OUTPUT_METRICS` (mmseg's behaviour).

    Raises:
        ValueError: If the config has no ``test_evaluator``, or ``out`` is a
            directory and no metric of the evaluator can write predictions.
    """
    evaluator = cfg.get('test_evaluator', None)
    if evaluator is None:
        raise ValueError('--out needs a config with a `test_evaluator`, but '
                         'test_evaluator is None')
    if out.endswith(_PICKLE_SUFFIXES):
        dump = dict(type='mmengine.DumpResults', out_file_path=out)
        if isinstance(evaluator, dict) and 'metrics' in evaluator:
            evaluator['metrics'] = _evaluator_metrics(evaluator) + [dump]
        else:
            cfg.test_evaluator = _evaluator_metrics(evaluator) + [dump]
        return
    touched = 0
    for metric in _evaluator_metrics(evaluator):
        if isinstance(metric, dict) and \
                _strip_scope(metric.get('type')) in SEG_OUTPUT_METRICS:
            metric['output_dir'] = out
            metric['keep_results'] = True
            touched += 1
    if not touched:
        types = [
            m.get('type') if isinstance(m, dict) else m
            for m in _evaluator_metrics(evaluator)
        ]
        raise ValueError(
            f'--out {out!r} is a directory, which needs a segmentation metric '
            f'of type {SEG_OUTPUT_METRICS} in test_evaluator, but got '
            f'{types}; give a .pkl file to dump the predictions instead.')


def trigger_visualization_hook(cfg: Config,
                               args: argparse.Namespace) -> Config:
    """Turn on the visualization hook for ``--show`` / ``--show-dir``.

    Supports MMSeg's ``SegVisualizationHook`` (``draw``, images saved under
    ``visualizer.save_dir``) and MMPretrain's ``VisualizationHook``
    (``enable``, ``out_dir``).

    Args:
        cfg (Config): The config, changed in place.
        args (argparse.Namespace): With ``show``, ``show_dir`` and
            ``wait_time``.

    Returns:
        Config: ``cfg``.

    Raises:
        RuntimeError: If ``default_hooks`` has no ``visualization`` hook.
    """
    default_hooks = cfg.get('default_hooks', None) or {}
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            '--show/--show-dir need a visualization hook in default_hooks, '
            'e.g. default_hooks = dict(visualization=dict('
            "type='SegVisualizationHook')) (mmseg) or "
            "dict(type='VisualizationHook') (mmpretrain); this config has "
            f'default_hooks keys {sorted(default_hooks)}.')
    hook = default_hooks['visualization']
    if _strip_scope(hook.get('type')) == 'SegVisualizationHook':
        hook['draw'] = True
        if args.show:
            hook['show'] = True
            hook['wait_time'] = args.wait_time
        if args.show_dir:
            visualizer = cfg.get('visualizer', None)
            if visualizer is None:
                raise RuntimeError('--show-dir needs a `visualizer` in the '
                                   'config to set its save_dir')
            visualizer['save_dir'] = args.show_dir
    else:
        hook['enable'] = True
        if args.show:
            hook['show'] = True
            hook['wait_time'] = args.wait_time
        if args.show_dir:
            hook['out_dir'] = args.show_dir
    return cfg


def build_test_cfg(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options.

    Args:
        args (argparse.Namespace): The result of :func:`parse_args`.

    Returns:
        Config: The config to build the runner from, with
        ``load_from=args.checkpoint``.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)

    select_eval_model(cfg, args.model)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.out is not None:
        set_prediction_output(cfg, args.out)
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


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point: parse ``argv``, build the runner and test.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.
            Defaults to None (``sys.argv[1:]``).

    Returns:
        dict: The metrics returned by ``runner.test()``.

    Raises:
        FileNotFoundError: If ``checkpoint`` is a local path that does not
            exist.
    """
    args = parse_args(argv)
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint!r} does not exist')
    register_safe_globals()
    register_safe_loader()
    cfg = build_test_cfg(args)
    setup_cpu_distributed(cfg)  # DDP over gloo when there is no CUDA
    runner = build_runner(cfg)
    metrics = runner.test()
    finish_distributed()
    return metrics


__all__: List[str] = [
    'parse_args', 'default_work_dir', 'is_dmt_config', 'select_eval_model',
    'set_prediction_output', 'trigger_visualization_hook', 'build_test_cfg',
    'build_runner', 'main', 'DMT_WRAPPER_TYPES'
]

if __name__ == '__main__':
    main()
