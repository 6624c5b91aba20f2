# Copyright (c) dmt_mm contributors. All rights reserved.
"""The mutual procedure of DMT (segmentation): two models label for each
other."""
import os.path as osp

from mmengine.dist import barrier, broadcast_object_list, is_main_process

from dmt_mm.engine.labelling import SegLabeller, run_labelling
from dmt_mm.utils.curriculum import (class_thresholds_from_histogram,
                                     kept_counts, level_to_confidence,
                                     pseudo_label_quality)
from dmt_mm.utils.pseudo_label_io import (new_pseudo_dir, publish_pseudo_dir,
                                          read_manifest, write_manifest)
from .base import BaseProcedure

#: Values of ``train_cfg.teacher``.
TEACHERS = ('partner', 'self')


class MutualProcedure(BaseProcedure):
    """Two models of a :class:`DMTSegmentor` teach each other.

    At the first stage of DMT phase ``k >= 1`` both phase ``k-1`` models
    label the unlabelled set, one pass each: with ``teacher='partner'``
    (DMT) model B labels for A and A for B; with ``teacher='self'`` (the
    single-model self-training ablation) each model labels for itself. Each
    pass writes one 16-bit PNG per image into a new directory, sums a
    ``(C, 256)`` histogram of (pseudo label, confidence level) over ranks,
    derives the per-class curriculum thresholds for keep ratio ``r_k`` and
    publishes the directory, with its manifest, as
    ``<work_dir>/<pseudo_dir>/for_<model>`` (an atomic swap). Then, for every
    stage ``(k, model)``: the model goes into the student slot, the dataset
    serves its labelled samples of that phase (see ``labeled_phase0`` of
    :class:`SemiSegDataset`) and its pseudo labels, and the optimizer
    and schedule restart (:class:`BaseProcedure`).

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.
    """

    name = 'mutual'

    def check(self) -> None:
        model, dataset = self.model, self.dataset
        if not hasattr(model, 'model_names'):
            raise TypeError(
                "train_cfg.procedure='mutual' needs a two-model wrapper such "
                f'as DMTSegmentor, got {type(model).__name__}; a single '
                "classifier uses procedure='chain'")
        for n_sets in (dataset.num_labeled_sets, dataset.num_phase0_sets):
            if n_sets not in (1, len(model.model_names)):
                raise ValueError(
                    f'the dataset has {n_sets} labelled sets; give one '
                    f'shared set or one per model ({len(model.model_names)})')
        head = getattr(model.student, 'decode_head', None)
        n_model = getattr(head, 'num_classes', None)
        if n_model is not None and n_model != dataset.num_classes:
            raise ValueError(
                f'class-count mismatch: the model predicts {n_model} classes '
                '(decode_head.num_classes) but the dataset has '
                f'{dataset.num_classes}: {dataset.metainfo["classes"]}')

    def target_dir(self, name: str) -> str:
        """Where the pseudo labels trained on by model ``name`` live."""
        return osp.join(self.runner.work_dir, self.loop.pseudo_dir,
                        f'for_{name}')

    # ---------------------------------------------------------------- stage
    def labels_at(self, stage) -> bool:
        return stage.phase >= 1 and stage.model == self.model.model_names[0]

    def prepare_stage(self, stage, resumed: bool) -> None:
        model, dataset = self.model, self.dataset
        if resumed and model.active_name != stage.model:
            raise RuntimeError(
                f'checkpoint has model {model.active_name} in the student '
                f'slot but stage {stage.name} trains {stage.model}')
        if self.labels_at(stage) and not resumed:
            for target in model.model_names:
                self.label_for(target, stage)
        model.activate(stage.model)
        dataset.set_active(model.model_names.index(stage.model), stage.phase)
        if stage.phase == 0:
            dataset.set_pseudo_source(None)
            return
        directory = self.target_dir(stage.model)
        manifest = read_manifest(directory)
        found = None if manifest is None else manifest.get('phase')
        if found != stage.phase:
            raise RuntimeError(
                f'pseudo labels in {directory} are for phase {found}, but '
                f'stage {stage.name} needs phase {stage.phase}. Resume from a '
                'checkpoint of the current phase (the labels of earlier '
                'phases are overwritten) or from the checkpoint of the end '
                f'of phase {stage.phase - 1}.')
        dataset.set_pseudo_source(directory)

    # -------------------------------------------------------------- phase 0
    def phase0_template(self) -> dict:
        return self.model.student.state_dict()

    def load_phase0(self, states: dict) -> None:
        """Load each model's phase-0 weights into its slot (in place)."""
        model = self.model
        for name, state in states.items():
            model.activate(name)
            model.student.load_state_dict(state)
        model.activate(model.model_names[0])

    # ------------------------------------------------------------ labelling
    def label_for(self, target: str, stage) -> dict:
        """One labelling pass producing the phase's pseudo labels of
        ``target``; returns its record."""
        model, dataset, runner = self.model, self.dataset, self.runner
        teacher = (target if self.loop.teacher == 'self' else
                   model.other_name(target))
        model.activate(teacher)
        final = self.target_dir(target)
        staged = [new_pseudo_dir(final) if is_main_process() else None]
        broadcast_object_list(staged)
        staged = staged[0]
        device = next(model.student.parameters()).device
        labeller = SegLabeller(staged, dataset.num_classes, device,
                               dataset.has_unlabeled_gt)
        seconds = run_labelling(
            runner, dataset.labeling_view(), model.test_step, labeller,
            self.loop.label_batch_size, self.loop.label_num_workers,
            f'phase {stage.phase}: model {teacher} labels '
            f'{dataset.num_unlabeled} unlabelled images for model {target}',
            eval_modules=[model])
        hist, joint = labeller.finish()
        ratio = stage.keep_ratio
        thresholds = class_thresholds_from_histogram(hist, ratio)
        kept = kept_counts(hist, thresholds)
        total = max(int(hist.sum()), 1)
        record = dict(
            phase=stage.phase,
            target=target,
            teacher=teacher,
            keep_ratio=ratio,
            kept_ratio=float(kept.sum()) / total,
            images=dataset.num_unlabeled,
            pixels=int(hist.sum()),
            class_total=hist.sum(1).tolist(),
            class_kept=kept.tolist(),
            thresholds=[level_to_confidence(t) for t in thresholds])
        if joint is not None:
            q = pseudo_label_quality(joint, thresholds)
            record['pseudo_miou'] = q['miou']
            record['kept_miou'] = q['kept_miou']
            if stage.phase > 1:  # at the previous cut, for the monitor
                prev = class_thresholds_from_histogram(
                    hist, self.loop.keep_ratios[stage.phase - 2])
                record['kept_miou_prev_ratio'] = pseudo_label_quality(
                    joint, prev)['kept_miou']
        barrier()  # every rank's PNGs are written
        if is_main_process():
            write_manifest(
                staged,
                dict(record, thresholds_level=thresholds.tolist()))
            publish_pseudo_dir(staged, final)
        barrier()
        self._log(target, record, seconds)
        self.loop.report.add_labelling(record, runner)
        return record

    def _log(self, target: str, rec: dict, seconds: float) -> None:
        runner = self.runner
        msg = (f'DMT phase {rec["phase"]} pseudo labels for {target} '
               f'(teacher {rec["teacher"]}): keep ratio {rec["keep_ratio"]}, '
               f'kept {rec["kept_ratio"] * 100:.1f}% of {rec["pixels"]} '
               f'pixels in {seconds:.1f}s')
        if 'pseudo_miou' in rec:
            msg += (f', pseudo-label mIoU {rec["pseudo_miou"]:.2f} (all) / '
                    f'{rec["kept_miou"]:.2f} (kept)')
        runner.logger.info(msg)
        classes = self.dataset.metainfo['classes']
        runner.logger.info('DMT per-class confidence thresholds: ' + ', '.join(
            f'{c}:{t:.3f}' for c, t in zip(classes, rec['thresholds'])))


__all__ = ['MutualProcedure', 'TEACHERS']
