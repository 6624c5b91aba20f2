# Copyright (c) dmt_mm contributors. All rights reserved.
"""The chain procedure of DMT (classification): an EMA teacher labels for a
freshly initialised student, phase after phase."""
import copy
import json
import os.path as osp

import numpy as np
import torch
from mmengine.dist import barrier, is_main_process
from mmengine.hooks import EMAHook
from mmengine.registry import MODELS

from dmt_mm.engine.labelling import ClsLabeller, run_labelling
from dmt_mm.utils.curriculum import rank_and_cut
from dmt_mm.utils.pseudo_label_io import (atomic_write_bytes,
                                          save_cls_pseudo_labels)
from .base import BaseProcedure


class ChainProcedure(BaseProcedure):
    """Phase 0 trains one classifier on labelled data; every phase
    ``k >= 1`` then

    1. lets the teacher, the phase ``k-1`` EMA model of mmengine's
       ``EMAHook`` (the model itself without one), label every unlabelled
       sample in one pass; one global confidence ranking keeps the most
       confident fraction ``r_k`` (:func:`~dmt_mm.utils.curriculum.
       rank_and_cut`); labels, confidences and the cut are written as
       ``<work_dir>/<pseudo_dir>/phase<k>.npy`` with ``phase<k>.json``;
    2. re-initialises the student from the model config under seed
       ``randomness.seed + k`` and restarts the EMA from it
       (``EMAHook.before_run`` builds a new average of the current model);
    3. restarts the optimizer and the schedule (:class:`BaseProcedure`);

    and, before every iteration, ramps the head's gamma over the phase
    (``DMTClsHead.set_gamma_progress``). ``teacher='self'`` is what a chain
    is; ``'partner'`` is refused by the loop.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514 (CIFAR-10 experiments).
    """

    name = 'chain'

    def __init__(self, loop) -> None:
        super().__init__(loop)
        self.ema_hook = None

    def check(self) -> None:
        model, dataset, runner = self.model, self.dataset, self.runner
        if hasattr(model, 'model_names'):
            raise TypeError(
                "train_cfg.procedure='chain' trains one model, but the model "
                f'is a two-model wrapper ({type(model).__name__}); use '
                "procedure='mutual'")
        if not hasattr(dataset, 'hidden_labels'):
            raise TypeError("train_cfg.procedure='chain' needs a "
                            f'SemiClsDataset, got {type(dataset).__name__}')
        head = getattr(model, 'head', None)
        n_model = getattr(head, 'num_classes', None)
        if n_model is not None and n_model != dataset.num_classes:
            raise ValueError(
                f'class-count mismatch: the model predicts {n_model} classes '
                '(head.num_classes) but the dataset has '
                f'{dataset.num_classes}: {dataset.metainfo["classes"]}')
        emas = [h for h in runner.hooks if isinstance(h, EMAHook)]
        self.ema_hook = emas[0] if emas else None
        if self.ema_hook is None:
            runner.logger.warning(
                'DMT chain without EMAHook: each phase\'s teacher is the '
                'final student of the previous phase, not its EMA')

    def chain_file(self, phase: int, ext: str = '.npy') -> str:
        return osp.join(self.runner.work_dir, self.loop.pseudo_dir,
                        f'phase{phase}{ext}')

    # ---------------------------------------------------------------- stage
    def prepare_stage(self, stage, resumed: bool) -> None:
        if stage.phase >= 1 and not resumed:
            self.label(stage)
            self.fresh_student(stage)
        if stage.phase == 0:
            self.dataset.set_pseudo_source(None)
            return
        path = self.chain_file(stage.phase)
        if not osp.isfile(path):
            raise RuntimeError(
                f'stage {stage.name} needs the pseudo labels {path}, which do '
                'not exist (was the work dir moved or cleaned?)')
        self.dataset.set_pseudo_source(path)

    def before_iter(self, stage) -> None:
        head = getattr(self.model, 'head', None)
        if hasattr(head, 'set_gamma_progress'):
            head.set_gamma_progress(self.runner.iter - stage.begin,
                                    stage.length)

    # -------------------------------------------------------------- phase 0
    def phase0_template(self) -> dict:
        return self.model.state_dict()

    def load_phase0(self, states: dict) -> None:
        """The loaded weights become the model and, with an ``EMAHook``,
        its EMA model: the teacher of phase 1."""
        self.model.load_state_dict(states[None])
        if self.ema_hook is not None:
            self.ema_hook.ema_model.module.load_state_dict(states[None])

    # ------------------------------------------------------------ labelling
    def label(self, stage) -> dict:
        """The previous phase's EMA model labels the unlabelled set."""
        model, dataset, runner = self.model, self.dataset, self.runner
        if self.ema_hook is not None:
            teacher, name = self.ema_hook.ema_model.module, 'EMA model'
        else:
            teacher, name = model, 'model'
        n = dataset.num_unlabeled
        labeller = ClsLabeller(n, next(model.parameters()).device)
        seconds = run_labelling(
            runner, dataset.labeling_view(), teacher.test_step, labeller,
            self.loop.label_batch_size, self.loop.label_num_workers,
            f'phase {stage.phase}: the phase {stage.phase - 1} {name} labels '
            f'{n} unlabelled samples',
            eval_modules=[teacher])
        labels, confs = labeller.finish()
        array = rank_and_cut(labels, confs, stage.keep_ratio)
        kept = array['kept']
        c = dataset.num_classes
        record = dict(
            phase=stage.phase,
            target=None,
            teacher=f'phase{stage.phase - 1} {name}',
            keep_ratio=stage.keep_ratio,
            kept_ratio=float(kept.mean()),
            samples=n,
            threshold=float(array['conf'][kept].min()),
            mean_conf=float(array['conf'].mean()),
            class_total=np.bincount(array['label'], minlength=c).tolist(),
            class_kept=np.bincount(array['label'][kept], minlength=c).tolist())
        hidden = dataset.hidden_labels()
        if hidden is not None:
            right = array['label'] == hidden
            record['pseudo_acc'] = float(right.mean() * 100)
            record['kept_acc'] = float(right[kept].mean() * 100)
            if stage.phase > 1:  # at the previous cut, for the monitor
                prev = rank_and_cut(labels, confs, self.loop.keep_ratios[
                    stage.phase - 2])['kept']
                record['kept_acc_prev_ratio'] = float(
                    right[prev].mean() * 100)
        if is_main_process():
            save_cls_pseudo_labels(self.chain_file(stage.phase), array)
            atomic_write_bytes(
                self.chain_file(stage.phase, '.json'),
                json.dumps(record, indent=1).encode())
        barrier()
        self._log(stage, record, seconds)
        self.loop.report.add_labelling(record, runner)
        return record

    def _log(self, stage, rec: dict, seconds: float) -> None:
        runner = self.runner
        msg = (f'DMT phase {stage.phase} pseudo labels ({rec["teacher"]}): '
               f'keep ratio {stage.keep_ratio}, kept '
               f'{sum(rec["class_kept"])} of {rec["samples"]} samples '
               f'({rec["kept_ratio"] * 100:.1f}%), confidence threshold '
               f'{rec["threshold"]:.4f}, in {seconds:.1f}s')
        if 'pseudo_acc' in rec:
            msg += (f', pseudo-label accuracy {rec["pseudo_acc"]:.2f} (all) '
                    f'/ {rec["kept_acc"]:.2f} (kept)')
        runner.logger.info(msg)
        classes = self.dataset.metainfo['classes']
        runner.logger.info('DMT kept pseudo labels per class: ' + ', '.join(
            f'{c}:{k}' for c, k in zip(classes, rec['class_kept'])))

    def fresh_student(self, stage) -> None:
        """Re-initialise the student with a new seed; restart the EMA."""
        model, runner = self.model, self.runner
        seed = (runner.seed or 0) + stage.phase
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fresh = MODELS.build(copy.deepcopy(runner.cfg.model))
            fresh.init_weights()
        model.load_state_dict(fresh.state_dict())
        del fresh
        if self.ema_hook is not None:
            # a new average of the fresh student (mmengine's own set-up)
            self.ema_hook.before_run(runner)
        runner.logger.info(
            f'DMT phase {stage.phase}: student re-initialised (seed {seed})')


__all__ = ['ChainProcedure']
