# Copyright (c) dmt_mm contributors. All rights reserved.
"""The labelling pass: a teacher runs once over the unlabelled set.

One place for segmentation and classification. :func:`run_labelling` builds
the loader the mmengine way (``Runner.build_dataloader`` with a
non-shuffling ``DefaultSampler(round_up=False)``, which shards the
unlabelled set across ranks without padding), runs the teacher in eval mode
without gradients, shows progress and hands every prediction to a task's
consumer; :func:`all_reduce_sum` adds the consumers' accumulators over
ranks. The task parts are small:

- :class:`SegLabeller`: per image, softmax -> pseudo label and confidence
  level, a 16-bit PNG (written by a thread pool), a ``(C, 256)`` histogram of
  (label, level) for the per-class curriculum and, where the unlabelled set
  has ground truth, a ``(C, C, 256)`` joint histogram for pseudo-label mIoU.
- :class:`ClsLabeller`: per sample, label and confidence into two
  ``(N,)`` tensors (disjoint shards, so their sum over ranks is exact).

Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
Learning", arXiv:2004.08514.
"""
import os.path as osp
import sys
import time
from typing import Callable, List, Optional

import torch
from mmengine.dist import all_reduce, broadcast, get_dist_info
from mmengine.utils import ProgressBar

from dmt_mm.models.losses.dmt_rule import to_device_async
from dmt_mm.utils.pseudo_label_io import NUM_CONF_LEVELS, encode_confidence
from dmt_mm.utils.pseudo_label_writer import PseudoLabelWriter


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sum tensors over ranks in place (a no-op without DDP)."""
    for t in tensors:
        all_reduce(t)


@torch.no_grad()
def run_labelling(runner, dataset, predict: Callable, consume: Callable,
                  batch_size: int, num_workers: int, what: str,
                  eval_modules: Optional[List[torch.nn.Module]] = None
                  ) -> float:
    """Run ``predict`` over this rank's shard of ``dataset``.

    Args:
        runner (Runner): The runner (builds the loader, logs).
        dataset (Dataset): The unlabelled samples under the labelling
            pipeline (``BaseSemiDataset.labeling_view()``).
        predict (callable): ``predict(data_batch) -> list of data samples``,
            e.g. a model's ``test_step``.
        consume (callable): Called with every returned data sample.
        batch_size (int): Batch size of the loader.
        num_workers (int): Workers of the loader.
        what (str): What is labelled, for the log.
        eval_modules (list[nn.Module], optional): Put in eval mode during
            the pass and restored afterwards.

    Returns:
        float: Seconds the pass took on this rank.
    """
    loader = runner.build_dataloader(
        dict(
            dataset=dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False,
                         round_up=False),
            collate_fn=dict(type='pseudo_collate')))
    rank, world_size = get_dist_info()
    n = len(loader.sampler)
    if rank == 0:
        runner.logger.info(f'DMT labelling: {what}')
    # A progress bar on a terminal; in a log file, a line per quarter.
    bar = ProgressBar(n) if rank == 0 and sys.stdout.isatty() else None
    quarters = {n * q // 4 for q in (1, 2, 3)} - {0}
    flags = [(m, m.training) for m in eval_modules or []]
    for m, _ in flags:
        m.eval()
        if world_size > 1:
            # Under DDP each rank's BN statistics follow its own batches;
            # every rank labels with rank 0's, the ones its checkpoint keeps.
            for buf in m.buffers():
                broadcast(buf, src=0)
    start, done = time.time(), 0
    try:
        for data in loader:
            for sample in predict(data):
                consume(sample)
                done += 1
                if bar is not None:
                    bar.update()
                elif rank == 0 and done in quarters:
                    runner.logger.info(f'DMT labelling: {done}/{n} samples')
    finally:
        for m, flag in flags:
            m.train(flag)
    if bar is not None:
        print()
    return time.time() - start


class SegLabeller:
    """Consumer of a segmentation labelling pass (see module docstring).

    Per image, with no host-device sync (the histograms are counted on the
    device with ``index_add_``; ``torch.bincount`` on CUDA reads the maximum
    back to the host to size its output): pseudo label = argmax of the
    softmax, confidence = its max, quantised by
    :func:`~dmt_mm.utils.pseudo_label_io.encode_confidence`; the map is
    handed to a :class:`PseudoLabelWriter`, which copies it to the host and
    writes the PNG on its threads.

    The PNGs are written in place (no temporary file and rename per file):
    ``out_dir`` is a private staging directory
    (:func:`~dmt_mm.utils.pseudo_label_io.new_pseudo_dir`) that no reader
    sees until the whole set is complete and published atomically
    (:func:`~dmt_mm.utils.pseudo_label_io.publish_pseudo_dir`); a pass that
    fails or is killed leaves a staging directory that is never published
    and is removed by the next publish.

    Args:
        out_dir (str): Staging directory the PNGs are written to (file names
            from each sample's ``pseudo_key``).
        num_classes (int): Number of classes ``C``.
        device (torch.device): Device of the histograms.
        with_gt (bool): Also gather the ``(C, C, 256)`` joint histogram of
            (ground truth, pseudo label, level) from ``gt_sem_seg``.
        num_writers (int): Writer threads (0: write on the calling thread).
            Defaults to 2.
    """

    def __init__(self, out_dir: str, num_classes: int, device,
                 with_gt: bool, num_writers: int = 2) -> None:
        self.out_dir = out_dir
        self.num_classes = num_classes
        self.hist = torch.zeros(
            num_classes * NUM_CONF_LEVELS, dtype=torch.long, device=device)
        self.joint = (torch.zeros(
            num_classes * num_classes * NUM_CONF_LEVELS,
            dtype=torch.long,
            device=device) if with_gt else None)
        # a row of ones for index_add_, grown to the largest image seen
        self._ones = torch.ones(0, dtype=torch.long, device=device)
        self.writer = PseudoLabelWriter(num_workers=num_writers, atomic=False)

    def _ones_for(self, n: int) -> torch.Tensor:
        if self._ones.numel() < n:
            self._ones = torch.ones(
                n, dtype=torch.long, device=self._ones.device)
        return self._ones[:n]

    def __call__(self, sample) -> None:
        logits = sample.seg_logits.data  # (C, H, W)
        conf, label = logits.float().softmax(0).max(0)  # (H, W) each
        level = encode_confidence(conf)
        self.writer.submit(
            osp.join(self.out_dir, sample.metainfo['pseudo_key']), label,
            level)
        # (label, level) -> one bin of the flattened (C, 256) histogram
        # (label is int64; the writer reads it, so it is not changed)
        code = (label * NUM_CONF_LEVELS).add_(level).reshape(-1)
        self.hist.index_add_(0, code, self._ones_for(code.numel()))
        if self.joint is not None and 'gt_sem_seg' in sample:
            gt = sample.gt_sem_seg.data[0]
            if gt.shape != label.shape:
                raise ValueError(
                    f'ground truth of {sample.img_path} has shape '
                    f'{tuple(gt.shape)}, prediction {tuple(label.shape)}')
            gt = to_device_async(gt, code.device).long().reshape(-1)
            # Pixels whose ground truth is not a class (255: ignore) add 0
            # to an arbitrary valid bin: no boolean indexing (a sync).
            valid = (gt >= 0) & (gt < self.num_classes)
            jcode = gt.clamp(0, self.num_classes - 1) * (
                self.num_classes * NUM_CONF_LEVELS) + code
            self.joint.index_add_(0, jcode, valid.long())

    def finish(self):
        """Wait for the PNGs; sum over ranks.

        Returns:
            tuple: ``hist`` ``(C, 256)`` and ``joint`` ``(C, C, 256)`` (or
            None) as numpy arrays.
        """
        self.writer.close()
        all_reduce_sum(*[t for t in (self.hist, self.joint) if t is not None])
        c = self.num_classes
        hist = self.hist.view(c, NUM_CONF_LEVELS).cpu().numpy()
        joint = (None if self.joint is None else self.joint.view(
            c, c, NUM_CONF_LEVELS).cpu().numpy())
        return hist, joint


class ClsLabeller:
    """Consumer of a classification labelling pass.

    Args:
        num_samples (int): Unlabelled samples ``N`` (all ranks).
        device (torch.device): Device of the accumulators.
    """

    def __init__(self, num_samples: int, device) -> None:
        # label + 1, so that the sum over ranks of disjoint shards is exact
        # and an unlabelled sample shows as -1
        self.labels = torch.zeros(num_samples, dtype=torch.long, device=device)
        self.confs = torch.zeros(
            num_samples, dtype=torch.float64, device=device)

    def __call__(self, sample) -> None:
        j = int(sample.metainfo['unlabeled_index'])
        conf, label = sample.pred_score.float().max(0)
        self.labels[j] = label.long() + 1
        self.confs[j] = conf.double()

    def finish(self):
        """Sum over ranks.

        Returns:
            tuple: ``labels`` int64 ``(N,)`` and ``confs`` float64 ``(N,)``
            numpy arrays.
        """
        all_reduce_sum(self.labels, self.confs)
        labels = self.labels.cpu().numpy() - 1
        missing = int((labels < 0).sum())
        if missing:
            raise RuntimeError(
                f'{missing} unlabelled samples were not labelled by any rank')
        return labels, self.confs.cpu().numpy()


__all__ = ['run_labelling', 'all_reduce_sum', 'SegLabeller', 'ClsLabeller']
