# Copyright (c) dmt_mm contributors. All rights reserved.
"""DSTRandAugment: the op set, magnitude ranges and sampling of the public
DMT code's CIFAR-10 RandAugment, on hand-checkable synthetic images, and the
CIFAR-10 config's training pipeline on a fabricated CIFAR-10."""
import math

import numpy as np
import pytest
from mmengine.config import Config

from conftest import REPO, fabricate_cifar, load_tool
from dmt_mm.datasets.transforms import DSTRandAugment
from dmt_mm.datasets.transforms.dst_randaugment import (CUTOUT_FILL_RGB,
                                                        DST_RANDAUGMENT_OPS,
                                                        apply_op, op_argument)

NAMES = [
    'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize', 'Solarize',
    'SolarizeAdd', 'Color', 'Contrast', 'Brightness', 'Sharpness', 'ShearX',
    'ShearY', 'CutoutAbs', 'TranslateXAbs', 'TranslateYAbs'
]


def _grey(value, size=32):
    return np.full((size, size, 3), value, np.uint8)


def _runs(fn, seeds=range(40)):
    """Results of ``fn()`` under several seeds (random signs/positions)."""
    out = []
    for s in seeds:
        np.random.seed(s)
        out.append(fn())
    return out


def test_op_set_is_the_public_list():
    assert [n for n, _, _ in DST_RANDAUGMENT_OPS] == NAMES
    assert len(DST_RANDAUGMENT_OPS) == 16
    # an absolute cutout is one of the ops; no relative Cutout/Translate
    assert 'CutoutAbs' in NAMES and 'Cutout' not in NAMES
    assert 'TranslateX' not in NAMES and 'Identity' not in NAMES


@pytest.mark.parametrize('name, at1, at10', [
    ('Rotate', 3.0, 30.0),
    ('Posterize', 0.4, 4.0),
    ('Solarize', 25.6, 256.0),
    ('SolarizeAdd', 11.0, 110.0),
    ('Color', 0.28, 1.9),
    ('Contrast', 0.28, 1.9),
    ('Brightness', 0.28, 1.9),
    ('Sharpness', 0.28, 1.9),
    ('ShearX', 0.03, 0.3),
    ('ShearY', 0.03, 0.3),
    ('CutoutAbs', 4.0, 40.0),
    ('TranslateXAbs', 10.0, 100.0),
    ('TranslateYAbs', 10.0, 100.0),
])
def test_argument_range_at_the_extremes(name, at1, at10):
    assert op_argument(name, 1) == pytest.approx(at1)
    assert op_argument(name, 10) == pytest.approx(at10)
    args = [op_argument(name, m) for m in range(1, 11)]
    assert args == sorted(args)  # increasing in the magnitude


def test_argument_errors():
    for bad in (0, 11, 5.0, True):
        with pytest.raises(ValueError, match='magnitude'):
            op_argument('Rotate', bad)
    with pytest.raises(KeyError, match='Cutout'):
        op_argument('Cutout', 3)
    with pytest.raises(KeyError, match='Cutout'):
        apply_op(_grey(0), 'Cutout', 3)


def test_translate_is_absolute_pixels():
    ramp = np.tile((np.arange(32, dtype=np.uint8) * 8 + 1)[None, :, None],
                   (32, 1, 3))  # column j holds 8 j + 1 (never 0)
    left = np.zeros_like(ramp)
    left[:, :22] = ramp[:, 10:]
    right = np.zeros_like(ramp)
    right[:, 10:] = ramp[:, :22]
    outs = _runs(lambda: apply_op(ramp, 'TranslateXAbs',
                                  op_argument('TranslateXAbs', 1)))
    assert all((o == left).all() or (o == right).all() for o in outs)
    assert any((o == left).all() for o in outs)
    assert any((o == right).all() for o in outs)
    # 30 pixels leave 2 columns; from m = 4 (40 px) a 32x32 image is black
    outs = _runs(lambda: apply_op(ramp, 'TranslateXAbs',
                                  op_argument('TranslateXAbs', 3)))
    assert all((o.any(axis=(0, 2))).sum() == 2 for o in outs)
    for m in (4, 10):
        outs = _runs(lambda: apply_op(ramp, 'TranslateXAbs',
                                      op_argument('TranslateXAbs', m)))
        assert all(not o.any() for o in outs)
    col = ramp.transpose(1, 0, 2).copy()
    outs = _runs(lambda: apply_op(col, 'TranslateYAbs',
                                  op_argument('TranslateYAbs', 1)))
    assert all((o.transpose(1, 0, 2) == left).all() or (
        o.transpose(1, 0, 2) == right).all() for o in outs)


def _cutout_boxes(m, seeds=range(200), img=None):
    img = _grey(200) if img is None else img
    sides = []
    for s in seeds:
        np.random.seed(s)
        out = apply_op(img, 'CutoutAbs', op_argument('CutoutAbs', m))
        filled = (out == CUTOUT_FILL_RGB).all(axis=2)
        rows, cols = np.nonzero(filled)
        h = rows.max() - rows.min() + 1
        w = cols.max() - cols.min() + 1
        assert filled.sum() == h * w  # one axis-aligned rectangle
        assert (out[~filled] == 200).all()
        sides += [h, w]
    return sides


def test_cutout_abs_size_in_pixels():
    # m = 1: a 4-pixel square drawn inclusive (5 px), cut by the border
    sides = _cutout_boxes(1)
    assert set(sides) <= {3, 4, 5} and 5 in sides
    # m = 10: 40 px; the top-left corner lies in 0..12, so 20..32 px remain
    sides = _cutout_boxes(10)
    assert min(sides) >= 20 and max(sides) == 32


@pytest.mark.parametrize('m, bits', [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2),
                                     (6, 2), (7, 2), (8, 3), (9, 3), (10, 4)])
def test_posterize_bits(m, bits):
    img = _grey(0b10110111)
    out = apply_op(img, 'Posterize', op_argument('Posterize', m))
    mask = (0xFF << (8 - bits)) & 0xFF
    assert (out == (0b10110111 & mask)).all()


def test_solarize_threshold():
    img = np.array([[[25] * 3, [26] * 3, [255] * 3]], np.uint8)
    out = apply_op(img, 'Solarize', op_argument('Solarize', 1))  # 25.6
    assert out[0, :, 0].tolist() == [25, 229, 0]
    out = apply_op(img, 'Solarize', op_argument('Solarize', 10))  # 256
    assert (out == img).all()


def test_solarize_add():
    img = np.array([[[100] * 3, [120] * 3, [250] * 3, [0] * 3]], np.uint8)
    # + 11, clip at 255, then pixels >= 128 inverted
    out = apply_op(img, 'SolarizeAdd', op_argument('SolarizeAdd', 1))
    assert out[0, :, 0].tolist() == [111, 255 - 131, 0, 11]
    img = np.array([[[17] * 3, [18] * 3]], np.uint8)
    out = apply_op(img, 'SolarizeAdd', op_argument('SolarizeAdd', 10))
    assert out[0, :, 0].tolist() == [127, 255 - 128]


def test_enhancement_factors():
    img = np.array([[[100] * 3, [200] * 3]], np.uint8)
    out = apply_op(img, 'Brightness', op_argument('Brightness', 1))  # 0.28
    assert out[0, :, 0].tolist() == [28, 56]
    out = apply_op(img, 'Brightness', op_argument('Brightness', 10))  # 1.9
    assert out[0, :, 0].tolist() == [190, 255]
    # contrast: blend with the mean grey (150)
    out = apply_op(img, 'Contrast', op_argument('Contrast', 10))
    assert out[0, :, 0].tolist() == [55, 245]
    out = apply_op(img, 'Contrast', op_argument('Contrast', 1))
    assert out[0, :, 0].tolist() == [136, 164]
    # colour: blend with the luma (pure red: L = 0.299 * 255 = 76)
    red = np.array([[[255, 0, 0]]], np.uint8)
    out = apply_op(red, 'Color', op_argument('Color', 1))[0, 0]
    assert np.abs(out.astype(int) - [126, 55, 55]).max() <= 1
    out = apply_op(_grey(90), 'Color', op_argument('Color', 10))
    assert (out == 90).all()  # a grey image has no colour to enhance
    # sharpness: blend with PIL's 3x3 smoothing (border pixels are kept)
    flat = _grey(120, 8)
    for m in (1, 10):
        assert (apply_op(flat, 'Sharpness', op_argument('Sharpness',
                                                        m)) == flat).all()
    spot = _grey(100, 8)
    spot[3:5, 3:5] = 150
    soft = apply_op(spot, 'Sharpness', op_argument('Sharpness', 1))
    sharp = apply_op(spot, 'Sharpness', op_argument('Sharpness', 10))
    assert soft.max() < 150 and soft[0, 0, 0] == 100
    assert sharp.max() > 150 and sharp[2, 2, 0] < 100


def test_invert_autocontrast_equalize():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2] = 50
    img[2:] = 60
    assert (apply_op(img, 'Invert', 0.0) == 255 - img).all()
    out = apply_op(img, 'AutoContrast', 0.0)
    assert set(out[..., 0].ravel().tolist()) == {0, 255}
    # equalize: half the pixels at 50, half at 60 (enough for PIL's
    # histogram step, (1024 - 512) // 255 = 2): spread to 0 and 255
    img = _grey(50)
    img[16:] = 60
    out = apply_op(img, 'Equalize', 0.0)
    assert (out[:16] == 0).all() and (out[16:] == 255).all()


def _centroid(img):
    rows, cols = np.nonzero(img[..., 0] > 127)
    return cols.mean() + 0.5, rows.mean() + 0.5


def test_rotate_degrees_about_the_centre():
    img = _grey(0)
    img[15:18, 25:28] = 255  # a blob centred at (26.5, 16.5)
    dx, dy = 10.5, 0.5  # from the image centre (16, 16)
    for m, deg in ((1, 3.0), (10, 30.0)):
        outs = _runs(lambda: apply_op(img, 'Rotate', op_argument('Rotate', m)))
        seen = set()
        for out in outs:
            x, y = _centroid(out)
            for sign in (1, -1):
                t = math.radians(sign * deg)  # counter-clockwise on screen
                ex = 16 + dx * math.cos(t) + dy * math.sin(t)
                ey = 16 - dx * math.sin(t) + dy * math.cos(t)
                if math.hypot(x - ex, y - ey) < 1.0:
                    seen.add(sign)
        assert seen == {1, -1}
        assert (outs[0][0, 0] == 0).all()  # filled with black


def test_shear_factor():
    img = _grey(200)
    for m, factor in ((1, 0.03), (10, 0.3)):
        for out in _runs(
                lambda: apply_op(img, 'ShearX', op_argument('ShearX', m))):
            black = (out[..., 0] == 0).sum(axis=1)  # per row
            for y in range(32):
                assert abs(black[y] - factor * (y + 0.5)) <= 1.0
        for out in _runs(
                lambda: apply_op(img, 'ShearY', op_argument('ShearY', m))):
            black = (out[..., 0] == 0).sum(axis=0)  # per column
            for x in range(32):
                assert abs(black[x] - factor * (x + 0.5)) <= 1.0
    out = apply_op(img, 'ShearX', 0.3)
    assert 9 <= (out[31, :, 0] == 0).sum() <= 10


def test_sampling_one_op_and_an_integer_magnitude():
    t = DSTRandAugment()
    np.random.seed(0)
    draws = [t.sample() for _ in range(3200)]
    assert all(len(names) == 1 for names, _ in draws)
    mags = [m for _, m in draws]
    assert set(mags) == set(range(1, 11))
    names = [n[0] for n, _ in draws]
    counts = {n: names.count(n) for n in NAMES}
    assert set(counts) == set(NAMES)
    assert all(120 < c < 280 for c in counts.values())  # 200 expected
    t3 = DSTRandAugment(num_ops=3, max_magnitude=3)
    draws = [t3.sample() for _ in range(300)]
    assert all(len(names) == 3 for names, _ in draws)
    assert {m for _, m in draws} == {1, 2, 3}


def test_transform_applies_the_sampled_op_every_time():
    """No probability of skipping: the output is the sampled op applied."""
    t = DSTRandAugment(channel_order='rgb')
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for seed in range(60):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        np.random.seed(seed)
        (name, ), m = t.sample()
        assert (out == apply_op(img, name, op_argument(name, m))).all()


def test_deterministic_under_a_seeded_rng_and_channel_order():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)

    def run(seed, order='rgb', image=img):
        t = DSTRandAugment(channel_order=order)
        np.random.seed(seed)
        return [t(dict(img=image.copy()))['img'] for _ in range(40)]

    a, b, c = run(3), run(3), run(4)
    assert all((x == y).all() for x, y in zip(a, b))
    assert any((x != y).any() for x, y in zip(a, c))
    # a BGR image gets the same ops, colours handled in RGB
    bgr = run(3, 'bgr', np.ascontiguousarray(img[..., ::-1]))
    assert all((x == y[..., ::-1]).all() for x, y in zip(a, bgr))


def test_argument_checks():
    for kw in (dict(num_ops=0), dict(num_ops=1.0), dict(max_magnitude=0),
               dict(max_magnitude=11), dict(channel_order='hsv')):
        with pytest.raises(ValueError, match=list(kw)[0]):
            DSTRandAugment(**kw)
    with pytest.raises(ValueError, match='uint8'):
        DSTRandAugment()(dict(img=np.zeros((8, 8), np.uint8)))


def test_cifar_config_pipeline(monkeypatch):
    monkeypatch.delenv('DMT_SPLIT', raising=False)
    cfg = Config.fromfile(str(REPO /
                              'configs/dmt/dmt_wrn28-2_cifar10-4000.py'))
    steps = cfg.train_dataloader.dataset.pipeline
    assert [s.type for s in steps
            ] == ['RandomCrop', 'RandomFlip', 'DSTRandAugment', 'PackInputs']
    crop, flip, ra = steps[:3]
    assert (crop.crop_size, crop.padding, crop.pad_val) == (32, 4, 128)
    assert (flip.prob, flip.direction) == (0.5, 'horizontal')
    assert (ra.num_ops, ra.max_magnitude, ra.channel_order) == (1, 10, 'rgb')
    # the digits demo keeps its own pipeline
    digits = Config.fromfile(str(REPO /
                                 'configs/dmt/dmt_wrn10-2_digits-50.py'))
    assert 'DSTRandAugment' not in [
        s.type for s in digits.train_dataloader.dataset.pipeline
    ]


def test_cifar_pipeline_on_fabricated_cifar(tmp_path, monkeypatch,
                                            mmpretrain_scope):
    """The config's training data on CIFAR-10's real pickle layout: every
    labelled and pseudo-labelled sample goes through crop, flip and one
    op; some samples get the cutout, some are translated out of view."""
    from mmpretrain.datasets import CIFAR10
    from mmpretrain.registry import DATASETS

    from dmt_mm.utils.curriculum import rank_and_cut
    monkeypatch.setattr(CIFAR10, 'train_list',
                        [[n, None] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, 'test_list',
                        [[n, None] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, 'meta', dict(CIFAR10.meta, md5=None))
    monkeypatch.delenv('DMT_SPLIT', raising=False)
    root = str(tmp_path / 'cifar10')
    fabricate_cifar(root)  # 150 training images
    load_tool('tools/dataset_converters/make_cifar_splits.py',
              'make_cifar_splits_ra_test').main([
                  root, '--num-labeled', '20', '--seeds', '0', '--no-check-md5'
              ])
    cfg = Config.fromfile(str(REPO /
                              'configs/dmt/dmt_wrn28-2_cifar10-4000.py'))
    ds_cfg = cfg.train_dataloader.dataset
    for kind in ('labeled', 'unlabeled'):
        ds_cfg[kind].data_root = root
        ds_cfg[kind].indices = f'meta/cifar10_{kind}_20_seed0.txt'
    ds = DATASETS.build(ds_cfg)
    n = ds.num_unlabeled
    assert (len(ds), n) == (150, 130)
    ds.set_pseudo_source(
        rank_and_cut(np.zeros(n, np.int64), np.linspace(0.5, 1, n), 1.0))
    np.random.seed(0)
    imgs, pseudo = [], []
    for _ in range(2):
        for i in range(150):
            out = ds[i]
            assert tuple(out['inputs'].shape) == (3, 32, 32)
            imgs.append(out['inputs'].numpy().transpose(1, 2, 0))
            pseudo.append(out['data_samples'].metainfo['is_pseudo'])
    assert sum(pseudo) == 260
    fill = np.array(CUTOUT_FILL_RGB, np.uint8)
    # a cutout covers 9 pixels or more; random data has none of its colour
    cut = [(im == fill).all(axis=2).sum() >= 9 for im in imgs]
    assert 0 < sum(cut) < 60  # about 300 / 16
    black = [not im.any() for im in imgs]
    assert 0 < sum(black) < 60  # about 300 * 14 / 160
