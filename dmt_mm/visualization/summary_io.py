# Copyright (c) dmt_mm contributors. All rights reserved.
"""Read what a DMT run left in its work dir: ``dmt_summary.json`` and the
scalars mmengine's ``LocalVisBackend`` logged."""
import glob
import json
import os.path as osp
from typing import List, Sequence

__all__ = ['SUMMARY_FILE', 'load_dmt_summary', 'find_scalars_files',
           'load_scalars']

SUMMARY_FILE = 'dmt_summary.json'

_STAGE_KEYS = ('stage', 'model', 'phase', 'val')
_LABELLING_KEYS = ('phase', 'keep_ratio', 'kept_ratio')


def load_dmt_summary(path: str) -> dict:
    """Load and check a ``dmt_summary.json`` (a work dir or the file).

    Returns:
        dict: ``metric`` and ``classes`` (None when absent), ``procedure``,
        ``stages`` (list of rows) and ``labelling`` (list of records, oldest
        first). ``procedure`` is inferred from the rows when absent.

    Raises:
        FileNotFoundError: No summary at ``path``.
        ValueError: A row or record lacks a required field (named).
    """
    file = osp.join(path, SUMMARY_FILE) if osp.isdir(path) else path
    if not osp.isfile(file):
        raise FileNotFoundError(
            f'{file} does not exist: is {path!r} the work dir of a DMT run '
            '(it is written after every stage)?')
    with open(file) as f:
        summary = json.load(f)
    if not isinstance(summary, dict) or not isinstance(
            summary.get('stages'), list):
        raise ValueError(f'{file}: expected an object with a "stages" list')
    labelling = summary.get('labelling') or []
    chain = all(r.get('model') is None for r in summary['stages'])
    if isinstance(labelling, dict):  # older runs: the last pass per target
        labelling = [
            dict(r, target=r.get('target', None if chain else key))
            for key, r in labelling.items()
        ]
        labelling.sort(key=lambda r: (r.get('phase', 0), str(r['target'])))
    for what, rows, keys in (('stages', summary['stages'], _STAGE_KEYS),
                             ('labelling', labelling, _LABELLING_KEYS)):
        for i, row in enumerate(rows):
            missing = [k for k in keys if k not in row]
            if missing:
                raise ValueError(f'{file}: {what}[{i}] has no field(s) '
                                 f'{missing}: {row}')
    summary['labelling'] = labelling
    summary.setdefault('metric', None)
    summary.setdefault('classes', None)
    summary.setdefault('procedure', 'chain' if chain else 'mutual')
    return summary


def find_scalars_files(work_dir: str) -> List[str]:
    """Every ``<work_dir>/<timestamp>/vis_data/scalars.json``, oldest first
    (a resumed run has one per start)."""
    return sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))


def load_scalars(paths: Sequence[str]) -> List[dict]:
    """The lines of ``scalars.json`` files (one JSON object per line),
    concatenated."""
    out = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out
