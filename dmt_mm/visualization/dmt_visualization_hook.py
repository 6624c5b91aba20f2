# Copyright (c) dmt_mm contributors. All rights reserved.
import logging
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from dmt_mm.models.losses.dmt_loss import dmt_weights
from .cls_gallery import render_cls_grid, select_near_threshold
from .data_access import (cls_pseudo_labels, seg_pseudo_label,
                          student_and_losses, student_logits,
                          unlabeled_image, unwrap)
from .scalars import write_tensorboard_layout
from .seg_gallery import LabelColorizer, SegPanel, render_seg_gallery


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


@HOOKS.register_module()
class DMTVisualizationHook(Hook):
    """Pseudo-label gallery of every DMT labelling pass, via the visualizer.

    At the start of every DMT stage (phase ``k >= 1``; called after the
    stage's pseudo labels are written and its student is active) it draws
    one image and hands it to ``runner.visualizer.add_image`` (name
    ``dmt_pseudo_labels_<model>``, or ``dmt_pseudo_labels`` for the chain;
    step = the stage's first iteration), so every configured vis backend gets
    it: ``LocalVisBackend`` writes ``<work_dir>/<timestamp>/vis_data/
    vis_image/dmt_pseudo_labels_A_<iter>.png``, ``TensorboardVisBackend`` and
    ``WandbVisBackend`` show it with a step slider.

    - Segmentation (:class:`SemiSegDataset`): for ``num_images`` unlabelled
      images (drawn once with ``seed``, the same images every pass), a row
      ``image | pseudo label after the cut (ignored pixels hatched) |
      teacher confidence | the student's DMT dynamic weight at the start of
      the stage | ground truth`` (the last where the unlabelled set has
      it), coloured with the dataset palette (:mod:`.seg_gallery`).
    - Classification (:class:`SemiClsDataset`): per predicted class the
      ``num_per_class`` most confident rejected and least confident kept
      samples around the global confidence cut, with their confidence
      (:mod:`.cls_gallery`).

    It also writes a TensorBoard custom-scalars layout that puts models A
    and B on one chart (:func:`.scalars.write_tensorboard_layout`) when a
    ``TensorboardVisBackend`` is configured. It draws on the main process
    only and never changes the training state (one no-grad forward of the
    student per image, in eval mode, for the weight map). A run resumed in
    the middle of a stage draws nothing for that stage.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.

    Args:
        num_images (int): Segmentation images per gallery. Defaults to 8.
        seed (int): Seed of the image choice. Defaults to 0.
        interval (int): Draw the passes of phases ``1, 1 + interval, ...``.
            Defaults to 1 (every pass).
        tile_size (int): Longer side of a segmentation tile in pixels.
            Defaults to 192.
        num_per_class (int): Classification samples on each side of the cut
            per class. Defaults to 4.
        thumb_size (int): Classification thumbnail side. Defaults to 56.
        draw_weights (bool): Draw the dynamic weight column (one student
            forward per image). Defaults to True.
    """

    priority = 'LOW'  # before_train_stage: the stage's labels are written

    def __init__(self,
                 num_images: int = 8,
                 seed: int = 0,
                 interval: int = 1,
                 tile_size: int = 192,
                 num_per_class: int = 4,
                 thumb_size: int = 56,
                 draw_weights: bool = True) -> None:
        self.num_images = _positive_int('num_images', num_images)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f'seed must be an int, got {seed!r}')
        self.seed = seed
        self.interval = _positive_int('interval', interval)
        self.tile_size = _positive_int('tile_size', tile_size)
        self.num_per_class = _positive_int('num_per_class', num_per_class)
        self.thumb_size = _positive_int('thumb_size', thumb_size)
        self.draw_weights = bool(draw_weights)
        self._colorize: Optional[LabelColorizer] = None

    # ----------------------------------------------------------------- hooks
    def before_train(self, runner) -> None:
        dataset = runner.train_loop.dataloader.dataset
        if not (self._is_seg(dataset) or self._is_cls(dataset)):
            raise TypeError('DMTVisualizationHook needs a SemiSegDataset or '
                            'SemiClsDataset as train_dataloader.dataset, got '
                            f'{type(dataset).__name__}')
        if is_main_process() and write_tensorboard_layout(runner.visualizer):
            print_log('DMT: TensorBoard custom-scalars layout written (tab '
                      '"Custom Scalars": A and B on one chart)',
                      logger='current')

    def before_train_stage(self, runner, stage) -> None:
        if stage.phase < 1 or (stage.phase - 1) % self.interval:
            return
        if runner.iter != stage.begin:  # resumed inside the stage
            return
        if not is_main_process():
            return
        dataset = runner.train_loop.dataloader.dataset
        name = ('dmt_pseudo_labels' if stage.model is None else
                f'dmt_pseudo_labels_{stage.model}')
        if self._is_seg(dataset):
            image = self.seg_gallery(runner, dataset, stage)
        else:
            image = self.cls_gallery(dataset, stage)
        runner.visualizer.add_image(name, image, step=runner.iter)
        print_log(
            f'DMT: pseudo-label gallery of {stage.name} added to the '
            f'visualizer as {name!r}, step {runner.iter} (LocalVisBackend: '
            f'vis_data/vis_image/{name}_{runner.iter}.png)',
            logger='current', level=logging.INFO)

    # ----------------------------------------------------------- rendering
    @staticmethod
    def _is_seg(dataset) -> bool:
        return hasattr(dataset, 'pseudo_label_path')

    @staticmethod
    def _is_cls(dataset) -> bool:
        return hasattr(dataset, 'pseudo') and hasattr(dataset,
                                                      'unlabeled_info')

    def pick_images(self, num_unlabeled: int) -> List[int]:
        """The fixed, seeded choice of unlabelled images (sorted)."""
        rng = np.random.default_rng(self.seed)
        n = min(self.num_images, num_unlabeled)
        return sorted(rng.choice(num_unlabeled, n, replace=False).tolist())

    def seg_gallery(self, runner, dataset, stage) -> np.ndarray:
        """Render the segmentation gallery of ``stage`` (RGB uint8)."""
        meta = dataset.metainfo
        classes, palette = list(meta['classes']), meta.get('palette')
        if palette is None:
            raise ValueError('the dataset metainfo has no palette; MMSeg '
                             'datasets set one (metainfo=dict(palette=...))')
        if self._colorize is None:
            self._colorize = LabelColorizer(classes, palette)
        student, losses = student_and_losses(runner)
        gammas = ((losses[0].gamma1, losses[0].gamma2) if losses else None)
        panels, kept, total = [], 0, 0
        for j in self.pick_images(dataset.num_unlabeled):
            label, conf = seg_pseudo_label(dataset, j)
            weight, gt = None, None
            if self.draw_weights and gammas is not None:
                logits, packed = student_logits(student, dataset, j)
                if tuple(logits.shape[1:]) != label.shape:
                    raise ValueError(
                        f'student logits of unlabelled image {j} have size '
                        f'{tuple(logits.shape[1:])} but its pseudo label '
                        f'{label.shape}')
                weight = dmt_weights(
                    logits[None], torch.from_numpy(label)[None],
                    torch.from_numpy(conf)[None], *gammas,
                    ignore_index=dataset.ignore_index)[0].numpy()
            else:
                packed = dataset.labeling_view([j])[0]
            ds = packed['data_samples']
            if 'gt_sem_seg' in ds:
                gt = ds.gt_sem_seg.data[0].cpu().numpy()
            path = ds.metainfo.get('img_path') or f'unlabelled {j}'
            panels.append(SegPanel(
                name=f'#{j} {path.rsplit("/", 1)[-1]}',
                image=unlabeled_image(dataset, j), pseudo_label=label,
                confidence=conf, weight=weight, gt=gt))
            kept += int((label != dataset.ignore_index).sum())
            total += label.size
        model = unwrap(runner.model)
        teacher = (model.other_name(stage.model)
                   if hasattr(model, 'other_name') else '?')
        weight_note = ('no DMTLoss: no weight map' if gammas is None else
                       f'weight of student {stage.model} at the start of the '
                       f'stage, gamma1={gammas[0]:g}, gamma2={gammas[1]:g}')
        title = [
            f'DMT phase {stage.phase} ({stage.name}): pseudo labels for '
            f'{stage.model} from teacher {teacher} (phase '
            f'{stage.phase - 1}), keep ratio {stage.keep_ratio}',
            f'{len(panels)} of {dataset.num_unlabeled} unlabelled images '
            f'(seed {self.seed}); kept {kept / max(total, 1):.1%} of their '
            f'pixels; {weight_note}'
        ]
        return render_seg_gallery(panels, classes, palette, title,
                                  self.tile_size, dataset.ignore_index,
                                  self._colorize)

    def cls_gallery(self, dataset, stage) -> np.ndarray:
        """Render the classification grid of ``stage`` (RGB uint8)."""
        label, conf, kept, truth = cls_pseudo_labels(dataset)
        classes = list(dataset.metainfo['classes'])
        picks = select_near_threshold(label, conf, kept, len(classes),
                                      self.num_per_class)
        images = {
            int(j): unlabeled_image(dataset, int(j))
            for rej, kep in picks.values() for j in np.concatenate([rej, kep])
        }
        n_kept = int(kept.sum())
        title = [
            f'DMT phase {stage.phase}: pseudo labels from the phase '
            f'{stage.phase - 1} teacher, keep ratio {stage.keep_ratio}; kept '
            f'{n_kept} of {len(label)}, confidence threshold '
            f'{float(conf[kept].min()) if n_kept else float("nan"):.4f}'
        ]
        if truth is not None:
            right = truth == label
            title.append(
                f'pseudo-label accuracy {right.mean() * 100:.1f}% (all), '
                f'{right[kept].mean() * 100 if n_kept else 0:.1f}% (kept)')
        return render_cls_grid(images, label, conf, kept, classes, truth,
                               self.num_per_class, self.thumb_size, title)
