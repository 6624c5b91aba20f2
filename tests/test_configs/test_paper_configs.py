# Copyright (c) dmt_mm contributors. All rights reserved.
"""The paper-setting configs: hyperparameters and a run of every stage.

1. Every DMT / oracle config of the paper's tables is checked against a
   reference table written from the published scripts of voldemortX/DST-CBC
   (a wrong learning rate, epoch count, batch ratio, gamma, crop or
   initialisation fails here).
2. Every bundled segmentation config (``configs/**/*.py`` outside
   ``_base_``) is built and run for two iterations of every stage, on tiny fabricated data in the real
   on-disk layout of its dataset (VOC: JPEGImages, SegmentationClass,
   SegmentationClassAug, ImageSets/Segmentation; Cityscapes: leftImg8bit,
   gtFine *_labelTrainIds), with a ResNet-18 of 16 base channels, random
   initialisation, fp32 and sizes scaled down; and model A / model B are
   checked to start from the checkpoint files the docs tell to convert.
"""
import copy
import json
import math
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO, load_tool
from fabricated_data import (fabricate_cityscapes, fabricate_voc,
                             write_tiny_splits)

DMT_CONFIGS = REPO / 'configs' / 'dmt'
BASELINE_CONFIGS = REPO / 'configs' / 'baseline'
DOCS = REPO / 'docs' / 'paper_settings.md'

COCO_CAFFE = 'pretrain/deeplabv2_coco_caffe_mmseg.pth'
IMAGENET = 'pretrain/resnet101_imagenet_mmseg.pth'
CAFFE_NORM = dict(
    mean=[104.008, 116.669, 122.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False)
IMAGENET_NORM = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)

# ----------------------------------------------------------------------------
# Reference values, from the public scripts of voldemortX/DST-CBC
# (segmentation/dmt-voc-106-1lr.sh, dmt-voc-20-1.sh, dmt-city-8-1.sh after
# commit 36fde76 "Wrong shell hyper-parameters updated", and the per-ratio
# phase-0 epochs of fs_voc_all.sh / fs_city_all.sh for ratios without a DMT
# script). init: (model A, model B).
VOC = dict(
    dataset='voc',
    lr=0.002,
    dmt_lr=0.001,
    phase_epochs=4,
    num_labeled=1,
    gamma=5.0,
    crop=(321, 321),
    num_classes=21,
    label_batch_size=1)
CITY = dict(
    dataset='cityscapes',
    lr=0.004,
    dmt_lr=0.004,
    phase_epochs=10,
    num_labeled=2,
    gamma=3.0,
    crop=(256, 512),
    num_classes=19,
    label_batch_size=8)
REFERENCE = {
    'dmt_deeplabv2-r101_voc12aug-1-106.py':
    dict(
        VOC,
        ratio='1-106',
        phase0_epochs=300,
        subsets=True,
        init=('coco_caffe', 'coco_caffe'),
        published=(46.66, 63.04)),
    'dmt_deeplabv2-r101_voc12aug-1-50.py':
    dict(
        VOC,
        ratio='1-50',
        phase0_epochs=212,
        subsets=False,
        init=('coco_caffe', 'imagenet'),
        published=(55.62, 67.15)),
    'dmt_deeplabv2-r101_voc12aug-1-20.py':
    dict(
        VOC,
        ratio='1-20',
        phase0_epochs=134,
        subsets=False,
        init=('coco_caffe', 'imagenet'),
        published=(62.29, 69.92)),
    'dmt_deeplabv2-r101_voc12aug-1-8.py':
    dict(
        VOC,
        ratio='1-8',
        phase0_epochs=85,
        subsets=False,
        init=('coco_caffe', 'imagenet'),
        published=(67.37, 72.70)),
    'dmt_deeplabv2-r101_cityscapes-1-30.py':
    dict(
        CITY,
        ratio='1-30',
        phase0_epochs=330,
        subsets=False,
        init=('coco_caffe', 'imagenet'),
        published=(49.54, 54.80)),
    'dmt_deeplabv2-r101_cityscapes-1-8.py':
    dict(
        CITY,
        ratio='1-8',
        phase0_epochs=170,
        subsets=False,
        init=('coco_caffe', 'imagenet'),
        published=(59.65, 63.03)),
}
ORACLE = {
    'deeplabv2-r101_voc12aug-full.py':
    dict(VOC, max_iters=30 * 1323, published=74.75),
    'deeplabv2-r101_cityscapes-full.py':
    dict(CITY, max_iters=60 * 372, published=68.16),
}


def _load(path) -> Config:
    return Config.fromfile(str(path))


def _find(pipeline, name):
    steps = [s for s in pipeline if s['type'] == name]
    assert len(steps) <= 1, f'{name} appears {len(steps)} times'
    return steps[0] if steps else None


def _check_preprocessor(pre, norm, crop, dataset):
    assert pre['mean'] == pytest.approx(norm['mean'])
    assert pre['std'] == pytest.approx(norm['std'])
    assert pre['bgr_to_rgb'] is norm['bgr_to_rgb']
    assert tuple(pre['size']) == crop
    assert pre['pad_val'] == 0 and pre['seg_pad_val'] == 255
    if dataset == 'voc':  # val images padded to 505x505 and cropped back
        assert tuple(pre['test_cfg']['size']) == (505, 505)
    else:  # Cityscapes val images are all 512x1024
        assert not pre.get('test_cfg')


def _model_preprocessor(model, name):
    """The data preprocessor of DMTSegmentor model ``name``: the
    segmentor's, merged with ``model_overrides[name]``."""
    merged = Config(dict(m=model.segmentor.to_dict()))
    over = model.get('model_overrides', {}).get(name, {})
    if 'data_preprocessor' in over:
        merged.merge_from_dict(
            dict(m=dict(data_preprocessor=over.data_preprocessor.to_dict())))
    return merged.m.data_preprocessor


def _check_pipelines(cfg, ref):
    train = cfg.train_dataloader.dataset
    pipeline = train.pipeline if 'pipeline' in train else \
        train.datasets[0].pipeline
    resize = _find(pipeline, 'RandomResize')
    assert tuple(resize.ratio_range) == (0.5, 1.5) and resize.keep_ratio
    # VOC: the original image scaled by 0.5-1.5 (its long side is 500);
    # Cityscapes: 512x1024 scaled by 0.5-1.5
    assert tuple(resize.scale) == ((500, 500) if ref['dataset'] == 'voc' else
                                   (1024, 512))
    assert tuple(_find(pipeline, 'RandomCrop').crop_size) == ref['crop']
    assert _find(pipeline, 'RandomCrop').get('cat_max_ratio', 1.0) == 1.0
    assert _find(pipeline, 'RandomFlip').prob == 0.5
    assert _find(pipeline, 'PhotoMetricDistortion') is None
    val = cfg.val_dataloader.dataset
    if ref['dataset'] == 'voc':
        assert val.ann_file == 'ImageSets/Segmentation/val.txt'
        assert val.data_prefix.seg_map_path == 'SegmentationClass'
        assert _find(val.pipeline, 'Resize') is None  # original resolution
    else:
        assert val.data_prefix.img_path == 'leftImg8bit/val'
        assert tuple(_find(val.pipeline, 'Resize').scale) == (1024, 512)
        mapper = _find(val.pipeline, 'KeyMapper')  # scored at 512x1024
        assert dict(mapper.mapping) == dict(ori_shape='img_shape')
    assert val.type == ('PascalVOCDataset'
                        if ref['dataset'] == 'voc' else 'CityscapesDataset')


def _check_segmentor(seg, ref):
    assert seg.type == 'EncoderDecoder'
    bb = seg.backbone
    assert bb.type == 'ResNet' and bb.depth == 101
    assert tuple(bb.strides) == (1, 2, 1, 1)
    assert tuple(bb.dilations) == (1, 1, 2, 4) and bb.contract_dilation
    assert bb.norm_eval is False and bb.style == 'pytorch'
    head = seg.decode_head
    assert head.type == 'ASPPV2Head' and head.in_channels == 2048
    assert head.num_classes == ref['num_classes']
    # the two branches the public code's classifier actually sums
    assert tuple(head.dilations) == (6, 12)


def _check_optim(cfg, lr):
    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and ow.loss_scale == 'dynamic'
    opt = ow.optimizer
    assert opt.type == 'SGD' and opt.lr == lr
    assert opt.momentum == 0.9 and opt.weight_decay == 5e-4
    assert not ow.get('paramwise_cfg')  # one lr for backbone and head
    (sched, ) = cfg.param_scheduler
    assert sched.type == 'PolyLR' and sched.power == 0.9
    assert sched.eta_min == 0.0 and sched.by_epoch is False


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_dmt_config_matches_the_published_scripts(name):
    ref = REFERENCE[name]
    cfg = _load(DMT_CONFIGS / name)
    assert cfg.custom_imports.imports == ['dmt_mm']
    # schedule
    _check_optim(cfg, ref['lr'])
    tc = cfg.train_cfg
    assert tc.type == 'DMTTrainLoop'
    assert tc.phase0_epochs == ref['phase0_epochs']
    assert tc.phase_epochs == ref['phase_epochs']
    assert tc.get('phase0_iters') is None and tc.get('phase_iters') is None
    assert tuple(tc.keep_ratios) == (0.2, 0.4, 0.6, 0.8, 1.0)
    (hook, ) = cfg.custom_hooks
    assert hook == dict(type='MutualTrainingHook')
    assert tc.dmt_lr == ref['dmt_lr']
    assert tc.label_batch_size == ref['label_batch_size']
    # batches: 8, with 1 + 7 (VOC) or 2 + 6 (Cityscapes) in DMT phases
    dl = cfg.train_dataloader
    assert dl.batch_size == 8 and dl.sampler.batch_size == 8
    assert dl.sampler.type == 'LabeledPseudoSampler'
    assert dl.sampler.num_labeled == ref['num_labeled']
    # model
    model = cfg.model
    assert model.type == 'DMTSegmentor'
    assert tuple(model.model_names) == ('A', 'B')
    seg = model.segmentor
    _check_segmentor(seg, ref)
    loss = seg.decode_head.loss_decode
    assert loss.type == 'DMTLoss'
    assert loss.gamma1 == loss.gamma2 == ref['gamma']
    # initialisation and the matching input normalisation, per model (no
    # preprocessor shared by both; none filled in by the Runner)
    assert 'data_preprocessor' in model and model.data_preprocessor is None
    for name_, init in zip(('A', 'B'), ref['init']):
        over = model.model_overrides[name_]
        norm = IMAGENET_NORM if init == 'imagenet' else CAFFE_NORM
        _check_preprocessor(
            _model_preprocessor(model, name_), norm, ref['crop'],
            ref['dataset'])
        if init == 'imagenet':
            assert set(over) == {'backbone'}
            assert over.backbone.init_cfg == dict(
                type='Pretrained', checkpoint=IMAGENET)
        else:
            assert set(over) <= {'init_cfg', 'data_preprocessor'}
            assert over.init_cfg == dict(
                type='Pretrained', checkpoint=COCO_CAFFE)
    # data: MMSeg's dataset bases, the split files of make_splits.py
    ds = dl.dataset
    assert ds.type == 'SemiSegDataset'
    split = f'dmt_splits/{ref["ratio"]}/split0/'
    labeled = ds.labeled if isinstance(ds.labeled, list) else [ds.labeled]
    # every DMT phase trains on the whole labelled set; 1/106 trains A and B
    # on two subsets of it in phase 0 only (the public --train-set=106-l/-r)
    assert [d.ann_file for d in labeled] == [split + 'labeled.txt']
    if ref['subsets']:
        assert [d.ann_file for d in ds.labeled_phase0
                ] == [split + 'labeled_a.txt', split + 'labeled_b.txt']
        labeled = labeled + list(ds.labeled_phase0)
    else:
        assert not ds.get('labeled_phase0')
    assert ds.unlabeled.ann_file == split + 'unlabeled.txt'
    for d in labeled + [ds.unlabeled]:
        if ref['dataset'] == 'voc':
            assert d.type == 'PascalVOCDataset'
            assert d.data_root == 'data/VOCdevkit/VOC2012'
            assert d.data_prefix == dict(
                img_path='JPEGImages', seg_map_path='SegmentationClassAug')
        else:
            assert d.type == 'CityscapesDataset'
            assert d.data_root == 'data/cityscapes/'
            assert d.data_prefix == dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train')
    # inherited from MMSeg's base (pascal_voc12_aug.py / cityscapes.py)
    assert 'tta_pipeline' in cfg
    if ref['dataset'] == 'voc':
        assert 'dataset_aug' in cfg
    _check_pipelines(cfg, ref)


@pytest.mark.parametrize('name', sorted(ORACLE))
def test_oracle_config_matches_the_published_scripts(name):
    ref = ORACLE[name]
    cfg = _load(BASELINE_CONFIGS / name)
    _check_optim(cfg, ref['lr'])
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == ref['max_iters']
    assert cfg.param_scheduler[0].end == ref['max_iters']
    dl = cfg.train_dataloader
    assert dl.batch_size == 8 and dl.sampler.type == 'InfiniteSampler'
    model = cfg.model
    _check_segmentor(model, ref)
    assert model.init_cfg == dict(type='Pretrained', checkpoint=COCO_CAFFE)
    _check_preprocessor(model.data_preprocessor, CAFFE_NORM, ref['crop'],
                        ref['dataset'])
    loss = model.decode_head.loss_decode
    assert loss.type == 'CrossEntropyLoss' and loss.avg_non_ignore is True
    if ref['dataset'] == 'voc':
        assert dl.dataset.ann_file == 'dmt_splits/train_full.txt'
        assert dl.dataset.data_prefix.seg_map_path == 'SegmentationClassAug'
    else:
        assert not dl.dataset.get('ann_file')  # the whole train folder
    _check_pipelines(cfg, ref)


def test_split_id_is_chosen_by_environment(monkeypatch):
    monkeypatch.setenv('DMT_SPLIT', '2')
    cfg = _load(DMT_CONFIGS / 'dmt_deeplabv2-r101_voc12aug-1-106.py')
    assert cfg.train_dataloader.dataset.unlabeled.ann_file == \
        'dmt_splits/1-106/split2/unlabeled.txt'


def test_docs_list_every_config_with_its_published_number():
    text = DOCS.read_text()
    for name, ref in REFERENCE.items():
        assert f'configs/dmt/{name}' in text
        for number in ref['published']:
            assert f'{number:.2f}' in text
    for name, ref in ORACLE.items():
        assert f'configs/baseline/{name}' in text
        assert f'{ref["published"]:.2f}' in text


def _bundled_configs():
    out = []
    for path in sorted((REPO / 'configs').rglob('*.py')):
        if '_base_' not in path.parts:
            out.append(str(path.relative_to(REPO)))
    return out


BUNDLED = _bundled_configs()


def test_every_bundled_segmentation_config_is_covered():
    paper = {f'configs/dmt/{n}' for n in REFERENCE}
    paper |= {f'configs/baseline/{n}' for n in ORACLE}
    assert paper <= set(BUNDLED)
    for path in BUNDLED:
        cfg = _load(REPO / path)
        if _is_segmentation(cfg):
            assert _family(cfg) in FAMILY_ROOT, path


# ----------------------------------------------------------------------------
# Tiny fabricated datasets in the real on-disk layouts.
@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('voc') / 'VOCdevkit' / 'VOC2012')
    fabricate_voc(root)
    # the real split tool: fills the missing SegmentationClassAug mask and
    # writes dmt_splits/train_full.txt (the oracle's list)
    tool = load_tool('tools/dataset_converters/make_splits.py',
                     'make_splits_cfg_test')
    summary = tool.make_splits('voc', root)
    assert summary['masks_copied'] == 1
    names = open(osp.join(root, 'dmt_splits', 'train_full.txt')).read()
    write_tiny_splits(root, ('1-106', '1-50', '1-20', '1-8'), names.split())
    return root


@pytest.fixture(scope='module')
def city_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    names = fabricate_cityscapes(root)
    tool = load_tool('tools/dataset_converters/make_splits.py',
                     'make_splits_cfg_test_city')
    tool.make_splits('cityscapes', root)
    write_tiny_splits(root, ('1-30', '1-8'), sorted(names['train']))
    return root


# ----------------------------------------------------------------------------
# Shrinking a config for a CPU run of every stage.
def _is_segmentation(cfg) -> bool:
    return cfg.model.type in ('DMTSegmentor', 'EncoderDecoder')


def _family(cfg) -> str:
    text = json.dumps(cfg.to_dict(), default=str)
    if 'PascalVOCDataset' in text:
        return 'voc'
    if 'CityscapesDataset' in text:
        return 'cityscapes'
    if 'DigitScenesDataset' in text:
        return 'digit_scenes'
    return 'unknown'


def _walk(node, fn):
    if isinstance(node, dict):
        fn(node)
        for v in list(node.values()):
            _walk(v, fn)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _walk(v, fn)


def _scaled(size, factor):
    return tuple(max(8, int(round(s * factor))) for s in size)


def shrink(cfg,
           data_root: str,
           work_dir: str,
           factor: float,
           checkpoints: dict = None) -> Config:
    """Tiny model, tiny sizes, two iterations per stage, fp32, no workers.

    ``Pretrained`` initialisations are dropped, or, with ``checkpoints``,
    pointed at the files it maps the configured paths to.
    ResNets shrink to a half-width R18 (and their ASPP heads to its 128
    channels); other backbones (EfficientNet-Lite0) keep their size.
    """
    resnet = '"type": "ResNet"' in json.dumps(cfg.to_dict(), default=str)

    def fn(d):
        t = d.get('type')
        if 'data_root' in d:
            d['data_root'] = data_root
        if t in ('RandomResize', 'Resize') and 'scale' in d:
            d['scale'] = _scaled(d['scale'], factor)
        if t == 'RandomCrop':
            d['crop_size'] = _scaled(d['crop_size'], factor)
        if t == 'SegDataPreProcessor':
            if d.get('size'):
                d['size'] = _scaled(d['size'], factor)
            if d.get('test_cfg') and d['test_cfg'].get('size'):
                d['test_cfg']['size'] = _scaled(d['test_cfg']['size'], factor)
        if t == 'ResNet':
            d.update(depth=18, base_channels=16)
        if t == 'ASPPV2Head' and resnet:
            d['in_channels'] = 128
        if t in ('SyncBN', ):
            d['type'] = 'BN'
        init = d.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            if checkpoints is None:
                d['init_cfg'] = None
            else:
                init['checkpoint'] = checkpoints[init['checkpoint']]

    _walk(cfg._cfg_dict, fn)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    ow = cfg.optim_wrapper
    ow.type = 'OptimWrapper'
    ow.pop('loss_scale', None)
    dl = cfg.train_dataloader
    dl.batch_size = 2
    if cfg.train_cfg.type == 'DMTTrainLoop':
        dl.sampler.batch_size = 2
        dl.sampler.num_labeled = 1  # the labelled + pseudo mix of a batch
        cfg.train_cfg.update(
            phase0_iters=2,
            phase_iters=2,
            phase0_epochs=None,
            phase_epochs=None)
        cfg.train_cfg.label_num_workers = 0
    else:
        cfg.train_cfg.update(max_iters=2, val_interval=2)
        for s in cfg.param_scheduler:
            s.end = 2
    return cfg


@pytest.fixture
def fast_cpu(monkeypatch):
    """One intra-op thread (tiny tensors: threads only contend) and a
    cheap ``Config.pretty_text`` (yapf formatting of the full config for
    every stage checkpoint's meta costs over a second each)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(Config, 'pretty_text',
                        property(lambda self: self.text or '# config'))
    yield
    torch.set_num_threads(threads)


FAMILY_ROOT = {
    'voc': 'voc_root',
    'cityscapes': 'city_root',
    'digit_scenes': 'tiny_scenes'
}
FACTOR = {'voc': 0.1, 'cityscapes': 1 / 16, 'digit_scenes': 1.0}


@pytest.mark.slow
@pytest.mark.parametrize('path', BUNDLED)
def test_every_stage_runs_on_tiny_data(path, request, tmp_path, fast_cpu,
                                      monkeypatch):
    from mmengine.runner import Runner
    # The pool recipes read their label budget from $DMT_BUDGET (default
    # 80, more than the tiny pool holds); the fixture writes budget 20.
    monkeypatch.setenv('DMT_BUDGET', '20')
    cfg = _load(REPO / path)
    if not _is_segmentation(cfg):
        pytest.skip('not a segmentation config (classification configs '
                    'have their own tests)')
    family = _family(cfg)
    root = request.getfixturevalue(FAMILY_ROOT[family])
    cfg = shrink(cfg, root, str(tmp_path / 'work'), FACTOR[family])
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    work = tmp_path / 'work'
    if cfg.train_cfg.type == 'IterBasedTrainLoop':
        assert runner.iter == 2
        metrics = runner.message_hub.get_scalar('val/mIoU')
        assert 0 <= metrics.current() <= 100
        return
    loop = runner.train_loop
    num_phases = len(cfg.train_cfg.keep_ratios)
    assert [s.name for s in loop.stages] == [
        f'phase{p}_{m}' for p in range(num_phases + 1) for m in 'AB'
    ]
    assert all(s.length == 2 for s in loop.stages)
    assert runner.iter == 2 * len(loop.stages)
    summary = json.load(open(work / 'dmt_summary.json'))
    rows = summary['stages']
    assert len(rows) == len(loop.stages)
    for r in rows:
        assert r['val'] is not None and 0 <= r['val'] <= 100
        assert (work / f'phase{r["phase"]}_{r["model"]}.pth').is_file()
        if r['phase'] > 0:
            assert 0 <= r['dmt_weight'] <= 1
            assert r['kept_ratio'] >= r['keep_ratio'] - 1e-6
    assert rows[-1]['kept_ratio'] == pytest.approx(1.0)
    for m in 'AB':
        manifest = json.load(
            open(work / 'pseudo_labels' / f'for_{m}' / 'manifest.json'))
        assert manifest['phase'] == num_phases
        # the unlabelled splits keep their masks for the diagnostics
        assert manifest.get('pseudo_miou') is not None


# ----------------------------------------------------------------------------
def stage_iterations(phase0_epochs: float,
                     num_labeled_images: int,
                     phase_epochs: float,
                     num_unlabeled_images: int,
                     batch_size: int = 8,
                     num_labeled: int = 1):
    """Iterations of one phase-0 stage and one DMT stage (DMTTrainLoop)."""
    return (math.ceil(phase0_epochs * num_labeled_images / batch_size),
            math.ceil(phase_epochs * num_unlabeled_images /
                      (batch_size - num_labeled)))


def test_documented_iteration_counts():
    """The iteration counts in docs/paper_settings.md follow from the
    configs and the split sizes of the protocol."""
    splits = load_tool('tools/dataset_converters/make_splits.py',
                       'make_splits_iters')
    text = DOCS.read_text()
    sizes = dict(voc=10582, cityscapes=2975)
    for name, ref in REFERENCE.items():
        n = sizes[ref['dataset']]
        k = splits.labeled_count(n,
                                 splits.RATIOS[ref['dataset']][ref['ratio']])
        n_lab = k
        if ref['subsets']:
            n_lab = k - math.ceil((1 - 0.6) / 2 * k)
        p0, p = stage_iterations(
            ref['phase0_epochs'],
            n_lab,
            ref['phase_epochs'],
            n - k,
            num_labeled=ref['num_labeled'])
        total = 2 * p0 + 10 * p
        assert f'{total:,}' in text, (name, p0, p, total)


def _fake_pretrained(cfg, tmp_path):
    """Tiny stand-ins for the three pre-trained files, written by the real
    converters from the formats they read."""
    import torch
    from mmseg.registry import MODELS
    conv = load_tool('tools/model_converters/dst_cbc_coco2mmseg.py',
                     'coco_conv_cfg_test')
    tv = load_tool('tools/model_converters/torchvision2mmseg.py',
                   'tv_conv_cfg_test')
    seg_cfg = copy.deepcopy(cfg.model.segmentor)
    seg_cfg.init_cfg = None
    seg_cfg.backbone.init_cfg = None
    torch.manual_seed(1)
    seg = MODELS.build(seg_cfg)
    seg.init_weights()
    sd = seg.state_dict()
    # AdvSemiSeg's resnet101COCO key format
    coco = {}
    for k, v in sd.items():
        if k.startswith('backbone.') and 'num_batches_tracked' not in k:
            coco[k[len('backbone.'):]] = v + 0.5  # distinct from any init
        elif k.startswith('decode_head.aspp_convs.'):
            i, name = k.split('.')[2:4]
            coco[f'layer5.conv2d_list.{i}.{name}'] = v + 0.5
    # torchvision's ResNet format (with the ImageNet classifier)
    imagenet = {
        k[len('backbone.'):]: v - 0.5
        for k, v in sd.items() if k.startswith('backbone.')
    }
    imagenet['fc.weight'] = torch.zeros(1000, 128)
    files = {}
    for name, state in (
        ('pretrain/deeplabv2_coco_caffe_mmseg.pth', conv.convert(coco)),
        ('pretrain/resnet101_imagenet_mmseg.pth',
         tv.convert_torchvision_resnet(imagenet)),
    ):
        path = str(tmp_path / osp.basename(name))
        torch.save(dict(state_dict=state), path)
        files[name] = path
    return files


@pytest.mark.parametrize('name', [
    'dmt_deeplabv2-r101_voc12aug-1-106.py',
    'dmt_deeplabv2-r101_voc12aug-1-20.py',
    'dmt_deeplabv2-r101_cityscapes-1-8.py'
])
def test_models_start_from_their_checkpoints(name, tmp_path, fast_cpu):
    """Model A and model B load the files the docs tell to convert."""
    import torch
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    ref = REFERENCE[name]
    cfg = _load(DMT_CONFIGS / name)
    plain = shrink(copy.deepcopy(cfg), '/nowhere', str(tmp_path), 0.1)
    files = _fake_pretrained(plain, tmp_path)
    cfg = shrink(cfg, '/nowhere', str(tmp_path), 0.1, checkpoints=files)
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        model = MODELS.build(cfg.model)
        model.init_weights()
    finally:
        logger.setLevel(level)
    loaded = {
        k: torch.load(v, weights_only=True)['state_dict']
        for k, v in files.items()
    }
    coco_file = COCO_CAFFE
    for m, init in zip('AB', ref['init']):
        state = model.model_state_dict(m)
        source = loaded[IMAGENET if init == 'imagenet' else coco_file]
        for key in ('backbone.conv1.weight', 'backbone.bn1.running_mean',
                    'backbone.layer4.1.conv2.weight'):
            src = source[key if init != 'imagenet' else key[9:]]
            assert torch.equal(state[key], src), (m, key)
        head = state['decode_head.aspp_convs.0.weight']
        coco_head = loaded[coco_file].get('decode_head.aspp_convs.0.weight')
        if init != 'imagenet' and ref['num_classes'] == 21:
            assert torch.equal(head, coco_head)  # the COCO classifier
        else:  # its own N(0, 0.01) initialisation
            assert head.shape[0] == ref['num_classes']
            assert head.std() < 0.02
    # and each model is fed the input its weights expect
    for m, init in zip('AB', ref['init']):
        model.activate(m)
        pre = model.data_preprocessor
        pre = pre.preprocessors[m] if hasattr(pre, 'preprocessors') else pre
        norm = IMAGENET_NORM if init == 'imagenet' else CAFFE_NORM
        assert pre.mean.flatten().tolist() == pytest.approx(norm['mean'])
        assert pre.std.flatten().tolist() == pytest.approx(norm['std'])
        img = torch.arange(3 * 8 * 8, dtype=torch.uint8).view(3, 8, 8)
        data = dict(inputs=[img], data_samples=[SegDataSample()])
        x = model.data_preprocessor(data, False)['inputs'][0]
        ref_x = img.float()[[2, 1, 0]] if norm['bgr_to_rgb'] else img.float()
        ref_x = (ref_x - torch.tensor(norm['mean']).view(3, 1, 1)) / \
            torch.tensor(norm['std']).view(3, 1, 1)
        torch.testing.assert_close(x[:, :8, :8], ref_x)
