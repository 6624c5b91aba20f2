# Copyright (c) dmt_mm contributors. All rights reserved.
import copy
import json
import math
import os
import os.path as osp
import shutil
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import (all_reduce, barrier, get_dist_info,
                           is_main_process)
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, MODELS
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from dmt_mm.datasets.base_semi_dataset import PSEUDO_MANIFEST
from dmt_mm.datasets.semi_cls_dataset import (rank_and_cut,
                                              save_cls_pseudo_labels)
from dmt_mm.utils.curriculum import (class_thresholds_from_histogram,
                                     kept_counts, level_to_confidence,
                                     pseudo_label_quality)
from dmt_mm.utils.pseudo_label_io import (NUM_CONF_LEVELS, atomic_write_bytes,
                                          encode_confidence,
                                          write_pseudo_label)

_TRAIN_STATS = ('dmt_weight', 'dmt_disagree', 'dmt_student_wins')


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class MutualTrainingHook(Hook):
    """Drive the phases of Dynamic Mutual Training inside one Runner run.

    Works with :class:`DMTTrainLoop` (the stage schedule) and
    :class:`LabeledPseudoSampler`, in the loop's two procedures.

    **Mutual** (segmentation; :class:`DMTSegmentor` with two models in one
    student slot, :class:`SemiSegDataset`). At the start of every stage it:

    1. at the first stage of a DMT phase ``k >= 1``, lets each phase ``k-1``
       model label the unlabelled set for its partner in one pass (progress
       bar, sharded across ranks): pseudo labels and teacher confidence are
       written to ``<work_dir>/<pseudo_dir>/for_<model>/`` (2 bytes per pixel,
       atomically, the old set replaced only when the new one is complete),
       confidence histograms give the per-class curriculum thresholds (summed
       over ranks), and, where the unlabelled set has ground truth, the
       pseudo-label mIoU before and after the cut is measured;
    2. puts the stage's model into the student slot, points the dataset at
       its labelled subset and pseudo labels;
    3. restarts the optimizer state and the learning-rate schedule (every
       ``param_scheduler`` restarts at the stage start; ``end`` is clipped to
       the stage length).

    **Chain** (classification; one classifier such as
    :class:`DMTImageClassifier`, :class:`SemiClsDataset`, and mmengine's
    ``EMAHook``). At the start of phase ``k >= 1`` it:

    1. lets the teacher, the EMA model of phase ``k-1`` (the model itself
       when no ``EMAHook`` is configured), label every unlabelled sample in
       one pass (sharded across ranks); one global confidence ranking keeps
       the most confident fraction ``keep_ratio``; labels, confidences and
       the cut are written as one array, ``<work_dir>/<pseudo_dir>/
       phase<k>.npy``, with ``phase<k>.json`` (kept ratio, threshold and,
       where the unlabelled set has labels, pseudo-label accuracy);
    2. re-initialises the student from the model config with a new seed
       (``runner.seed + k``) and restarts the EMA from it;
    3. restarts the optimizer state and the schedule as above.

    Every iteration it ramps the model's gamma over the stage when the model
    has ``set_gamma_progress`` (classification:
    ``gamma_max * exp(-5 * (1 - t / T) ** 2)``).

    At the end of every stage it records the stage's diagnostics (kept ratio,
    mean dynamic weight, disagreement and student-wins rates from the loss,
    pseudo-label mIoU or accuracy, validation metric) and saves
    ``<stage>.pth`` (with an ``EMAHook``, its ``state_dict`` holds the EMA
    weights). Its state is stored in every checkpoint, so ``--resume``
    continues from any iteration. After training it prints the per-stage
    table and writes it to ``<work_dir>/dmt_summary.json``.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.

    Args:
        dmt_lr (float, optional): Base learning rate of the DMT phases
            (phase 0 uses the optimizer's). Parameter-wise multipliers are
            kept. Defaults to None (same as phase 0).
        pseudo_dir (str): Folder under the work dir for pseudo labels.
            Defaults to ``'pseudo_labels'``.
        label_batch_size (int): Batch size of the labelling pass (images in a
            batch must have the same size). Defaults to 1.
        label_num_workers (int): Workers of the labelling dataloader.
            Defaults to 2.
        save_stage_checkpoints (bool): Save a checkpoint at the end of every
            stage. Defaults to True.
        metric (str): Validation metric recorded per stage.
            Defaults to ``'mIoU'`` (classification: ``'accuracy/top1'``).
    """

    priority = 'NORMAL'

    def __init__(self,
                 dmt_lr: Optional[float] = None,
                 pseudo_dir: str = 'pseudo_labels',
                 label_batch_size: int = 1,
                 label_num_workers: int = 2,
                 save_stage_checkpoints: bool = True,
                 metric: str = 'mIoU') -> None:
        if dmt_lr is not None and not dmt_lr > 0:
            raise ValueError(f'dmt_lr must be positive, got {dmt_lr!r}')
        if not isinstance(label_batch_size, int) or label_batch_size < 1:
            raise ValueError('label_batch_size must be a positive int, got '
                             f'{label_batch_size!r}')
        if label_num_workers < 0:
            raise ValueError('label_num_workers must be >= 0, got '
                             f'{label_num_workers!r}')
        self.dmt_lr = dmt_lr
        self.pseudo_dir = pseudo_dir
        self.label_batch_size = label_batch_size
        self.label_num_workers = label_num_workers
        self.save_stage_checkpoints = save_stage_checkpoints
        self.metric = metric
        # Checkpointed state.
        self.stage_index = -1
        self.base_lrs: Optional[List[float]] = None
        self.thresholds: Dict[str, List[int]] = {}
        self.label_stats: Dict[str, dict] = {}
        self.history: List[dict] = []
        # Per-stage accumulators (not checkpointed: a resumed stage reports
        # the iterations it ran after the resume).
        self._sums = np.zeros(len(_TRAIN_STATS), dtype=np.float64)
        self._count = 0
        self._last_val: Optional[float] = None
        self._ema_hook: Optional[EMAHook] = None

    # ------------------------------------------------------------ checks
    def _is_chain(self, runner) -> bool:
        return getattr(runner.train_loop, 'procedure', 'mutual') == 'chain'

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if not hasattr(loop, 'stages'):
            raise TypeError('MutualTrainingHook needs train_cfg type '
                            f'DMTTrainLoop, got {type(loop).__name__}')
        model = _unwrap(runner.model)
        dataset = loop.dataloader.dataset
        if self._is_chain(runner):
            head, field = getattr(model, 'head', None), 'head.num_classes'
            if not hasattr(dataset, 'hidden_labels'):
                raise TypeError(
                    "procedure='chain' needs a SemiClsDataset, got "
                    f'{type(dataset).__name__}')
            emas = [h for h in runner.hooks if isinstance(h, EMAHook)]
            self._ema_hook = emas[0] if emas else None
            if self._ema_hook is None:
                runner.logger.warning(
                    'DMT chain without EMAHook: each phase\'s teacher is the '
                    'final student of the previous phase, not its EMA')
        else:
            head = getattr(model.student, 'decode_head', None)
            field = 'decode_head.num_classes'
        n_model = getattr(head, 'num_classes', None)
        if n_model is not None and n_model != dataset.num_classes:
            raise ValueError(
                f'class-count mismatch: the model predicts {n_model} classes '
                f'({field}) but the dataset has '
                f'{dataset.num_classes}: {dataset.metainfo["classes"]}')
        if self.base_lrs is None:  # fresh run (a resume restores them)
            self.base_lrs = [
                g.get('initial_lr', g['lr'])
                for g in runner.optim_wrapper.param_groups
            ]
        cfg_lr = runner.cfg.get('optim_wrapper', {}).get('optimizer',
                                                         {}).get('lr')
        self._lr_scale = (self.dmt_lr / cfg_lr
                          if self.dmt_lr is not None and cfg_lr else 1.0)

    # ------------------------------------------------------------ stages
    def before_train_stage(self, runner, stage) -> None:
        if self._is_chain(runner):
            self._before_chain_stage(runner, stage)
            return
        model = _unwrap(runner.model)
        if self.stage_index == stage.index:
            # Resumed inside this stage: weights, optimizer and schedulers
            # come from the checkpoint; re-point the dataset.
            if model.active_name != stage.model:
                raise RuntimeError(
                    f'checkpoint has model {model.active_name} in the student '
                    f'slot but stage {stage.name} trains {stage.model}')
            self._point_dataset(runner, stage, check_manifest=True)
            runner.logger.info(f'DMT: resumed inside stage {stage.name}')
            return
        self._check_next_stage(stage)
        if stage.phase >= 1 and stage.model == model.model_names[0]:
            self._label_phase(runner, stage)
        model.activate(stage.model)
        self._point_dataset(runner, stage, check_manifest=stage.phase >= 1)
        self._start_stage(runner, stage)

    def _check_next_stage(self, stage) -> None:
        if stage.index != self.stage_index + 1:
            raise RuntimeError(
                f'DMT state is at stage {self.stage_index} but the loop is at '
                f'stage {stage.index} ({stage.name}); was the checkpoint '
                'written by a different schedule?')

    def _start_stage(self, runner, stage) -> None:
        self._restart_optimization(runner, stage)
        self.stage_index = stage.index
        self._sums[:] = 0
        self._count = 0
        self._last_val = None
        msg = (f'DMT: stage {stage.name} starts: {stage.length} iterations '
               f'[{stage.begin}, {stage.end})')
        if stage.phase >= 1:
            msg += f', keep ratio {stage.keep_ratio}'
        runner.logger.info(msg)

    # ------------------------------------------------------------ chain
    def _chain_file(self, runner, phase: int, ext: str = '.npy') -> str:
        return osp.join(runner.work_dir, self.pseudo_dir, f'phase{phase}{ext}')

    def _before_chain_stage(self, runner, stage) -> None:
        dataset = runner.train_loop.dataloader.dataset
        resumed = self.stage_index == stage.index
        if not resumed:
            self._check_next_stage(stage)
        if stage.phase >= 1 and not resumed:
            self._label_chain(runner, stage)
            self._fresh_student(runner, stage)
        if stage.phase == 0:
            dataset.set_pseudo_source(None)
        else:
            path = self._chain_file(runner, stage.phase)
            if not osp.isfile(path):
                raise RuntimeError(
                    f'stage {stage.name} needs the pseudo labels {path}, '
                    'which do not exist (was the work dir moved or cleaned?)')
            dataset.set_pseudo_source(path)
        if resumed:
            runner.logger.info(f'DMT: resumed inside stage {stage.name}')
            return
        self._start_stage(runner, stage)

    @torch.no_grad()
    def _label_chain(self, runner, stage) -> None:
        """The previous phase's EMA model labels the unlabelled set."""
        model = _unwrap(runner.model)
        dataset = runner.train_loop.dataloader.dataset
        teacher = (self._ema_hook.ema_model.module
                   if self._ema_hook is not None else model)
        name = ('EMA model' if self._ema_hook is not None else 'model')
        rank, world = get_dist_info()
        n = dataset.num_unlabeled
        view = dataset.labeling_view(range(rank, n, world))
        loader = DataLoader(
            view,
            batch_size=self.label_batch_size,
            num_workers=self.label_num_workers,
            collate_fn=pseudo_collate)
        device = next(model.parameters()).device
        # label + 1 so that the sum over ranks of disjoint shards is exact
        labels = torch.zeros(n, dtype=torch.long, device=device)
        confs = torch.zeros(n, dtype=torch.float64, device=device)
        start = time.time()
        if rank == 0:
            runner.logger.info(
                f'DMT phase {stage.phase}: the phase {stage.phase - 1} '
                f'{name} labels {n} unlabelled samples')
        was_training = teacher.training
        teacher.eval()
        try:
            for data in loader:
                samples = teacher.test_step(data)
                idx = torch.tensor(
                    [int(s.metainfo['unlabeled_index']) for s in samples],
                    device=device)
                scores = torch.stack([s.pred_score for s in samples])
                conf, label = scores.float().max(1)  # (B, num_classes) -> B
                labels[idx] = label.long() + 1
                confs[idx] = conf.double()
        finally:
            teacher.train(was_training)
        all_reduce(labels)
        all_reduce(confs)
        labels = labels.cpu().numpy() - 1
        if (labels < 0).any():
            raise RuntimeError(f'{int((labels < 0).sum())} unlabelled samples '
                               'were not labelled by any rank')
        array = rank_and_cut(labels, confs.cpu().numpy(), stage.keep_ratio)
        kept = array['kept']
        stats = dict(
            phase=stage.phase,
            teacher=f'phase{stage.phase - 1} {name}',
            keep_ratio=stage.keep_ratio,
            kept_ratio=float(kept.mean()),
            samples=n,
            threshold=float(array['conf'][kept].min()),
            mean_conf=float(array['conf'].mean()),
            seconds=round(time.time() - start, 2),
            class_counts=np.bincount(
                array['label'][kept],
                minlength=dataset.num_classes).tolist())
        hidden = dataset.hidden_labels()
        if hidden is not None:
            right = array['label'] == hidden
            stats['pseudo_acc'] = float(right.mean() * 100)
            stats['kept_acc'] = float(right[kept].mean() * 100)
        if is_main_process():
            save_cls_pseudo_labels(self._chain_file(runner, stage.phase),
                                   array)
            atomic_write_bytes(
                self._chain_file(runner, stage.phase, '.json'),
                json.dumps(stats, indent=1).encode())
        barrier()
        self.label_stats[stage.name] = stats
        msg = (f'DMT phase {stage.phase} pseudo labels ({stats["teacher"]}): '
               f'keep ratio {stage.keep_ratio}, kept {int(kept.sum())} of {n} '
               f'samples ({stats["kept_ratio"] * 100:.1f}%), confidence '
               f'threshold {stats["threshold"]:.4f}, in {stats["seconds"]}s')
        if hidden is not None:
            msg += (f', pseudo-label accuracy {stats["pseudo_acc"]:.2f} (all) '
                    f'/ {stats["kept_acc"]:.2f} (kept)')
        runner.logger.info(msg)
        classes = dataset.metainfo['classes']
        runner.logger.info('DMT kept pseudo labels per class: ' + ', '.join(
            f'{c}:{k}' for c, k in zip(classes, stats['class_counts'])))
        scalars = {'dmt/kept_ratio': stats['kept_ratio'],
                   'dmt/threshold': stats['threshold']}
        if hidden is not None:
            scalars['dmt/pseudo_acc'] = stats['pseudo_acc']
            scalars['dmt/kept_acc'] = stats['kept_acc']
        runner.visualizer.add_scalars(scalars, step=runner.iter)

    def _fresh_student(self, runner, stage) -> None:
        """Re-initialise the student with a new seed; restart the EMA."""
        model = _unwrap(runner.model)
        seed = (runner.seed or 0) + stage.phase
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fresh = MODELS.build(copy.deepcopy(runner.cfg.model))
            fresh.init_weights()
        model.load_state_dict(fresh.state_dict())
        del fresh
        if self._ema_hook is not None:
            ema = self._ema_hook.ema_model
            ema.module.load_state_dict(model.state_dict())
            ema.steps.zero_()  # the next update copies the student
        runner.logger.info(
            f'DMT phase {stage.phase}: student re-initialised (seed {seed})')

    # ------------------------------------------------------------ mutual
    def _target_dir(self, runner, name: str) -> str:
        return osp.join(runner.work_dir, self.pseudo_dir, f'for_{name}')

    def _point_dataset(self, runner, stage, check_manifest: bool) -> None:
        model = _unwrap(runner.model)
        dataset = runner.train_loop.dataloader.dataset
        dataset.set_active(model.model_names.index(stage.model))
        if stage.phase == 0:
            dataset.set_pseudo_source(None)
            return
        directory = self._target_dir(runner, stage.model)
        if check_manifest:
            manifest = dataset.read_manifest(directory)
            if manifest is None or manifest.get('phase') != stage.phase:
                found = None if manifest is None else manifest.get('phase')
                raise RuntimeError(
                    f'pseudo labels in {directory} are for phase {found}, '
                    f'but stage {stage.name} needs phase {stage.phase}. '
                    'Resume from a checkpoint of the current phase (the '
                    'labels of earlier phases are overwritten) or from the '
                    f'checkpoint of the end of phase {stage.phase - 1}.')
        dataset.set_pseudo_source(directory, self.thresholds[stage.model])

    def _restart_optimization(self, runner, stage) -> None:
        optim = runner.optim_wrapper
        optim.optimizer.state.clear()  # fresh momentum buffers
        scale = self._lr_scale if stage.phase >= 1 else 1.0
        for group, base in zip(optim.param_groups, self.base_lrs):
            group['lr'] = base * scale
            group['initial_lr'] = base * scale
        cfg = runner.cfg.get('param_scheduler')
        if cfg is None:
            return
        cfgs = copy.deepcopy(cfg if isinstance(cfg, (list, tuple)) else [cfg])
        for c in cfgs:
            if c.get('by_epoch', False):
                raise ValueError(
                    'DMT restarts every param_scheduler at each stage and '
                    'reads begin/end in iterations; set by_epoch=False, got '
                    f'{dict(c)}')
            c['by_epoch'] = False
            c['begin'] = min(int(c.get('begin', 0)), stage.length - 1)
            end = c.get('end')
            c['end'] = stage.length if end is None else min(
                int(end), stage.length)
            if c['end'] <= c['begin']:
                c['end'] = c['begin'] + 1
        runner.param_schedulers = runner.build_param_scheduler(cfgs)

    # ------------------------------------------------------------ labelling
    @torch.no_grad()
    def _label_phase(self, runner, stage) -> None:
        model = _unwrap(runner.model)
        dataset = runner.train_loop.dataloader.dataset
        ratio = stage.keep_ratio
        for target in model.model_names:
            teacher = model.other_name(target)
            model.activate(teacher)
            start = time.time()
            hist, joint, n_images = self._run_teacher(runner, model, dataset,
                                                      target, stage.phase)
            thresholds = class_thresholds_from_histogram(hist, ratio)
            kept = kept_counts(hist, thresholds)
            total = max(int(hist.sum()), 1)
            stats = dict(
                phase=stage.phase,
                teacher=teacher,
                keep_ratio=ratio,
                kept_ratio=float(kept.sum()) / total,
                images=n_images,
                pixels=int(hist.sum()),
                seconds=round(time.time() - start, 2),
                class_pixels=hist.sum(1).tolist(),
                thresholds=[level_to_confidence(t) for t in thresholds])
            if joint is not None:
                q = pseudo_label_quality(joint, thresholds)
                stats['pseudo_miou'] = q['miou']
                stats['kept_miou'] = q['kept_miou']
            self.thresholds[target] = thresholds.tolist()
            self.label_stats[target] = stats
            self._finish_pseudo_dir(runner, target, stats)
            self._log_labelling(runner, target, stats)

    def _run_teacher(self, runner, model, dataset, target: str, phase: int):
        rank, world = get_dist_info()
        n = dataset.num_unlabeled
        view = dataset.labeling_view(range(rank, n, world))
        loader = DataLoader(
            view,
            batch_size=self.label_batch_size,
            num_workers=self.label_num_workers,
            collate_fn=pseudo_collate)
        out_dir = self._target_dir(runner, target) + '.tmp'
        if rank == 0 and osp.isdir(out_dir):
            shutil.rmtree(out_dir)
        barrier()
        os.makedirs(out_dir, exist_ok=True)
        num_classes = dataset.num_classes
        student = model.student
        device = next(student.parameters()).device
        hist = torch.zeros(num_classes * NUM_CONF_LEVELS, dtype=torch.long,
                           device=device)
        joint = (torch.zeros(num_classes * num_classes * NUM_CONF_LEVELS,
                             dtype=torch.long, device=device)
                 if dataset.has_unlabeled_gt else None)
        was_training = student.training
        student.eval()
        # A progress bar on a terminal; in a log file, a line per quarter.
        bar = (ProgressBar(len(view))
               if rank == 0 and sys.stdout.isatty() else None)
        quarters = {len(view) * q // 4 for q in (1, 2, 3)} - {0}
        done = 0
        if rank == 0:
            runner.logger.info(
                f'DMT phase {phase}: model {model.active_name} labels '
                f'{n} unlabelled images for model {target}')
        try:
            for data in loader:
                for sample in student.test_step(data):
                    logits = sample.seg_logits.data
                    conf, label = logits.float().softmax(0).max(0)
                    level = encode_confidence(conf)
                    write_pseudo_label(
                        osp.join(out_dir, sample.metainfo['pseudo_key']),
                        label, level)
                    code = label.long() * NUM_CONF_LEVELS + level.long()
                    hist += torch.bincount(
                        code.flatten(), minlength=hist.numel())
                    if joint is not None and 'gt_sem_seg' in sample:
                        gt = sample.gt_sem_seg.data[0].to(device).long()
                        if gt.shape != label.shape:
                            raise ValueError(
                                f'ground truth of {sample.img_path} has '
                                f'shape {tuple(gt.shape)}, prediction '
                                f'{tuple(label.shape)}')
                        valid = (gt >= 0) & (gt < num_classes)
                        jcode = gt[valid] * (num_classes * NUM_CONF_LEVELS) \
                            + code[valid]
                        joint += torch.bincount(jcode, minlength=joint.numel())
                    done += 1
                    if bar is not None:
                        bar.update()
                    elif rank == 0 and done in quarters:
                        runner.logger.info(
                            f'DMT labelling: {done}/{len(view)} images')
        finally:
            student.train(was_training)
        if bar is not None:
            print()
        all_reduce(hist)
        if joint is not None:
            all_reduce(joint)
        hist = hist.view(num_classes, NUM_CONF_LEVELS).cpu().numpy()
        if joint is not None:
            joint = joint.view(num_classes, num_classes,
                               NUM_CONF_LEVELS).cpu().numpy()
        return hist, joint, n

    def _finish_pseudo_dir(self, runner, target: str, stats: dict) -> None:
        """Replace the previous pseudo labels by the complete new set."""
        barrier()
        if is_main_process():
            final = self._target_dir(runner, target)
            tmp = final + '.tmp'
            manifest = dict(stats, thresholds_level=self.thresholds[target],
                            target=target)
            atomic_write_bytes(
                osp.join(tmp, PSEUDO_MANIFEST),
                json.dumps(manifest, indent=1).encode())
            old = final + '.old'
            if osp.isdir(old):
                shutil.rmtree(old)
            if osp.isdir(final):
                os.replace(final, old)
            os.replace(tmp, final)
            if osp.isdir(old):
                shutil.rmtree(old)
        barrier()

    def _log_labelling(self, runner, target: str, stats: dict) -> None:
        classes = runner.train_loop.dataloader.dataset.metainfo['classes']
        thr = ', '.join(f'{c}:{t:.3f}'
                        for c, t in zip(classes, stats['thresholds']))
        msg = (f'DMT phase {stats["phase"]} pseudo labels for '
               f'{target} (teacher {stats["teacher"]}): keep ratio '
               f'{stats["keep_ratio"]}, kept {stats["kept_ratio"] * 100:.1f}%'
               f' of {stats["pixels"]} pixels in {stats["seconds"]}s')
        if 'pseudo_miou' in stats:
            msg += (f', pseudo-label mIoU {stats["pseudo_miou"]:.2f} (all) / '
                    f'{stats["kept_miou"]:.2f} (kept)')
        runner.logger.info(msg)
        runner.logger.info(f'DMT per-class confidence thresholds: {thr}')
        scalars = {f'dmt/kept_ratio_{target}': stats['kept_ratio']}
        if 'pseudo_miou' in stats:
            scalars[f'dmt/pseudo_miou_{target}'] = stats['pseudo_miou']
            scalars[f'dmt/kept_miou_{target}'] = stats['kept_miou']
        runner.visualizer.add_scalars(scalars, step=runner.iter)

    # ------------------------------------------------------------ training
    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        model = _unwrap(runner.model)
        if hasattr(model, 'set_gamma_progress'):
            stage = runner.train_loop.current_stage
            model.set_gamma_progress(runner.iter - stage.begin, stage.length)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if not outputs or _TRAIN_STATS[0] not in outputs:
            return
        self._sums += [float(outputs[k]) for k in _TRAIN_STATS]
        self._count += 1

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics and self.metric in metrics:
            self._last_val = float(metrics[self.metric])

    def after_train_stage(self, runner, stage) -> None:
        sums = torch.tensor(np.append(self._sums, self._count),
                            dtype=torch.float64)
        all_reduce(sums)  # sum over ranks
        count = float(sums[-1])
        row = dict(
            stage=stage.index,
            model=stage.model,
            phase=stage.phase,
            keep_ratio=stage.keep_ratio,
            iters=stage.length,
            val=self._last_val)
        if stage.phase >= 1:
            key = stage.name if stage.model is None else stage.model
            lab = self.label_stats.get(key, {})
            row['kept_ratio'] = lab.get('kept_ratio')
            if stage.model is None:  # chain (classification)
                row['threshold'] = lab.get('threshold')
                row['pseudo_acc'] = lab.get('pseudo_acc')
                row['kept_acc'] = lab.get('kept_acc')
            else:
                row['pseudo_miou'] = lab.get('pseudo_miou')
                row['kept_miou'] = lab.get('kept_miou')
            for k, v in zip(_TRAIN_STATS, sums[:-1].tolist()):
                row[k] = v / count if count else None
        self.history = [h for h in self.history if h['stage'] != stage.index]
        self.history.append(row)
        runner.logger.info('DMT: stage ' + stage.name + ' done: ' + ', '.join(
            f'{k}={_fmt(v)}' for k, v in row.items()))
        if self.save_stage_checkpoints:
            filename = f'{stage.name}.pth'
            runner.save_checkpoint(
                runner.work_dir,
                filename,
                meta=dict(epoch=runner.epoch, iter=runner.iter),
                by_epoch=False)
            if is_main_process():
                with open(osp.join(runner.work_dir, 'last_checkpoint'),
                          'w') as f:
                    f.write(osp.join(runner.work_dir, filename))

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        table = format_summary(self.history, self.metric)
        runner.logger.info('DMT summary\n' + table)
        path = osp.join(runner.work_dir, 'dmt_summary.json')
        atomic_write_bytes(
            path,
            json.dumps(
                dict(metric=self.metric, stages=self.history,
                     labelling=self.label_stats), indent=1).encode())

    # ------------------------------------------------------------ state
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['dmt'] = dict(
            stage_index=self.stage_index,
            base_lrs=self.base_lrs,
            thresholds=self.thresholds,
            label_stats=self.label_stats,
            history=self.history)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('dmt')
        if state is None:
            return  # e.g. load_from a plain (pre-trained) checkpoint
        if not runner._resume:  # noqa: SLF001 - load_from a DMT checkpoint
            return
        self.stage_index = int(state['stage_index'])
        self.base_lrs = state['base_lrs']
        self.thresholds = dict(state['thresholds'])
        self.label_stats = dict(state['label_stats'])
        self.history = list(state['history'])


def _fmt(v) -> str:
    if v is None:
        return '-'
    if isinstance(v, float):
        return 'nan' if math.isnan(v) else f'{v:.4g}'
    return str(v)


def format_summary(history: List[dict], metric: str = 'mIoU') -> str:
    """The per-stage table printed at the end of a DMT run.

    Segmentation rows report pseudo-label mIoU (``pseudo_miou``,
    ``kept_miou``), classification rows accuracy (``pseudo_acc``,
    ``kept_acc``); a chain has no model column entry (``-``).
    """
    acc = any('pseudo_acc' in h for h in history)
    q = 'acc' if acc else 'miou'
    qname = 'acc' if acc else 'mIoU'
    head = ('model', 'phase', 'keep ratio', 'kept %', f'pseudo {qname}',
            f'kept {qname}', 'mean w', 'disagree %', 'student wins %',
            f'val {metric}')
    rows = []
    for h in sorted(history,
                    key=lambda r: (r['model'] or '', r['phase'])):

        def pct(k):
            v = h.get(k)
            return '-' if v is None else f'{v * 100:.1f}'

        def num(k, fmt='{:.2f}'):
            v = h.get(k)
            return '-' if v is None or (isinstance(v, float) and
                                        math.isnan(v)) else fmt.format(v)

        rows.append((h['model'] or '-', str(h['phase']),
                     '-' if h.get('keep_ratio') is None else
                     f'{h["keep_ratio"]:.1f}', pct('kept_ratio'),
                     num(f'pseudo_{q}'), num(f'kept_{q}'),
                     num('dmt_weight', '{:.3f}'), pct('dmt_disagree'),
                     pct('dmt_student_wins'), num('val')))
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = [' | '.join(x.rjust(w) for x, w in zip(head, widths))]
    lines.append('-+-'.join('-' * w for w in widths))
    lines += [' | '.join(x.rjust(w) for x, w in zip(r, widths)) for r in rows]
    return '\n'.join(lines)
