#!/usr/bin/env python
"""Export one model of a DMT checkpoint as a plain MMSeg checkpoint.

    python tools/export_model.py CONFIG CHECKPOINT OUT [--model A]

The output holds ``state_dict`` (the segmentor's keys, no ``student.``
prefix) and ``meta.dataset_meta``; it loads into the segmentor config the DMT
config wraps (``cfg.model.segmentor``) with ``load_from`` or
``tools/test.py``.
"""
import argparse
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the DMT config of the run')
    parser.add_argument('checkpoint', help='a checkpoint of the run')
    parser.add_argument('out', help='output .pth path')
    parser.add_argument('--model', default=None,
                        help='model to export (default: the first, "A")')
    parser.add_argument('--save-config', action='store_true',
                        help='also write the plain segmentor config next to '
                        'the output (OUT with .py)')
    return parser.parse_args(argv)


def export(config: str, checkpoint: str, out: str, model_name=None,
           save_config: bool = False) -> str:
    import dmt_mm  # noqa: F401  (registers, allow-lists checkpoint types)
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint

    from dmt_mm.models.segmentors import dmt_model_state
    from dmt_mm.utils.checkpoint import load_checkpoint_safely
    cfg = Config.fromfile(config)
    if cfg.model.get('type') != 'DMTSegmentor':
        raise ValueError(f'{config} is not a DMT config (model.type is '
                         f'{cfg.model.get("type")!r})')
    names = tuple(cfg.model.get('model_names', ('A', 'B')))
    name = model_name or names[0]
    if name not in names:
        raise ValueError(f'--model must be one of {names}, got {name!r}')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    ckpt = load_checkpoint_safely(checkpoint, map_location='cpu')
    state = ckpt['state_dict']
    if 'active_index' not in state:
        raise KeyError(f'{checkpoint} is not a DMTSegmentor checkpoint (no '
                       'active_index)')
    plain = dmt_model_state(state, name, names)
    meta = dict(ckpt.get('meta', {}))
    out_meta = dict(dmt_model=name, dmt_source=osp.abspath(checkpoint))
    if 'dataset_meta' in meta:
        out_meta['dataset_meta'] = meta['dataset_meta']
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    save_checkpoint(dict(state_dict=plain, meta=out_meta), out)
    if save_config:
        plain_cfg = Config(dict(cfg.to_dict(), model=cfg.model.segmentor))
        plain_cfg.dump(osp.splitext(out)[0] + '.py')
    return name


def main(argv=None) -> int:
    args = parse_args(argv)
    name = export(args.config, args.checkpoint, args.out, args.model,
                  args.save_config)
    print(f'exported model {name} to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
