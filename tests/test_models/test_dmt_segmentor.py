# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMTSegmentor: the student slot, the stored model and the loss context."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dmt_mm.models.losses.dmt_loss import dmt_loss

NUM_CLASSES = 4


def _segmentor_cfg():
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1],
            size=(16, 16)),
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      stem_channels=8, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), out_indices=(3, ),
                      contract_dilation=True,
                      norm_cfg=dict(type='BN', requires_grad=True)),
        decode_head=dict(type='ASPPV2Head', in_channels=64, channels=8,
                         num_classes=NUM_CLASSES, in_index=0,
                         dilations=(1, 2),
                         loss_decode=dict(type='DMTLoss', gamma1=2.0,
                                          gamma2=3.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


@pytest.fixture()
def model():
    torch.manual_seed(0)
    m = MODELS.build(dict(type='DMTSegmentor', segmentor=_segmentor_cfg()))
    m.init_weights()
    return m


def test_two_independent_models_and_an_in_place_swap(model):
    w_a = model.student.backbone.conv1.weight
    a0 = w_a.detach().clone()
    b0 = model.bank.backbone.conv1.weight.clone()
    assert not torch.equal(a0, b0)  # independently initialised
    assert model.active_name == 'A'
    model.activate('B')
    assert model.active_name == 'B'
    assert model.student.backbone.conv1.weight is w_a  # same tensor object
    assert torch.equal(w_a, b0)
    assert torch.equal(model.bank.backbone.conv1.weight, a0)
    model.activate('A')
    assert torch.equal(w_a, a0)
    with pytest.raises(ValueError, match="unknown model 'C'"):
        model.activate('C')


def test_only_the_student_is_trainable_and_ddp_ignores_the_bank(model):
    params = dict(model.named_parameters())
    assert params and all(k.startswith('student.') for k in params)
    ignored = set(model._ddp_params_and_buffers_to_ignore)
    bank = {f'bank.{n}' for n, _ in model.bank.named_buffers()}
    assert bank <= ignored and 'active_index' in ignored
    # BN statistics travel with their model
    assert 'bank.backbone.bn1.running_mean' in bank


def test_state_dict_round_trip_keeps_both_models(model):
    model.activate('B')
    state = model.state_dict()
    other = MODELS.build(dict(type='DMTSegmentor',
                              segmentor=_segmentor_cfg()))
    other.load_state_dict(state)
    assert other.active_name == 'B'
    for k, v in model.state_dict().items():
        assert torch.equal(v, other.state_dict()[k]), k


def _batch(pseudo):
    g = torch.Generator().manual_seed(1)
    inputs, samples = [], []
    for i, is_pseudo in enumerate(pseudo):
        inputs.append(torch.rand(3, 16, 16, generator=g) * 255)
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, NUM_CLASSES, (1, 16, 16), generator=g))
        s.set_metainfo(dict(img_shape=(16, 16), ori_shape=(16, 16),
                            pad_shape=(16, 16), is_pseudo=is_pseudo))
        if is_pseudo:
            # smaller than the label: padded by the segmentor
            s.teacher_conf = PixelData(
                data=torch.rand(1, 12, 14, generator=g))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_mixed_batch_uses_the_dynamic_loss(model):
    data = model.data_preprocessor(_batch([False, True]), True)
    losses = model(**data, mode='loss')
    assert {'dmt_weight', 'dmt_disagree', 'dmt_student_wins'} <= set(losses)
    # recompute by hand from the same logits
    student = model.student
    logits = student.decode_head.forward(student.extract_feat(data['inputs']))
    from mmseg.models.utils import resize
    logits = resize(logits, size=(16, 16), mode='bilinear',
                    align_corners=False)
    label = torch.stack([s.gt_sem_seg.data[0]
                         for s in data['data_samples']])
    conf = torch.zeros(2, 16, 16)
    conf[1, :12, :14] = data['data_samples'][1].teacher_conf.data[0]
    expected = dmt_loss(logits, label, conf, torch.tensor([False, True]),
                        2.0, 3.0)
    assert losses['decode.loss_dmt'].item() == pytest.approx(
        expected.item(), rel=1e-5)
    # the context is cleared afterwards: a labelled batch is plain CE
    assert not model._dmt_losses[0].has_pseudo_context


def test_labelled_batch_has_no_dmt_stats(model):
    data = model.data_preprocessor(_batch([False, False]), True)
    losses = model(**data, mode='loss')
    assert 'dmt_weight' not in losses and 'decode.loss_dmt' in losses


def test_eval_model_selects_the_model_to_test(model):
    model.eval_model = 'B'
    data = model.data_preprocessor(_batch([False]), False)
    b_weights = model.bank.backbone.conv1.weight.clone()
    model(**data, mode='predict')
    assert model.active_name == 'B'
    assert torch.equal(model.student.backbone.conv1.weight, b_weights)


@pytest.mark.parametrize('kw,match', [
    (dict(model_names=('A', )), 'model_names'),
    (dict(model_names=('A', 'A')), 'model_names'),
    (dict(eval_model='C'), 'eval_model'),
    (dict(model_overrides=dict(C=dict())), 'unknown model names'),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(dict(type='DMTSegmentor', segmentor=_segmentor_cfg(),
                          **kw))


def test_model_overrides_apply_per_model():
    m = MODELS.build(
        dict(type='DMTSegmentor', segmentor=_segmentor_cfg(),
             model_overrides=dict(B=dict(decode_head=dict(
                 loss_decode=dict(gamma1=7.0))))))
    assert m._cfgs['B']['decode_head']['loss_decode']['gamma1'] == 7.0
    assert m._cfgs['B']['decode_head']['loss_decode']['type'] == 'DMTLoss'
    assert m._cfgs['A']['decode_head']['loss_decode']['gamma1'] == 2.0


# ----------------------------------------------------------------------------
# Per-model data preprocessors
A_PRE = dict(mean=[10.0, 20.0, 30.0], std=[1.0, 2.0, 4.0], bgr_to_rgb=False)
B_PRE = dict(mean=[100.0, 50.0, 25.0], std=[5.0, 5.0, 5.0], bgr_to_rgb=True)
PRE = dict(A=A_PRE, B=B_PRE)


def _per_model(**kw):
    torch.manual_seed(0)
    m = MODELS.build(
        dict(type='DMTSegmentor', segmentor=_segmentor_cfg(),
             model_overrides=dict(A=dict(data_preprocessor=A_PRE),
                                  B=dict(data_preprocessor=B_PRE)), **kw))
    m.init_weights()
    return m


def _normalised(data, pre):
    """What model ``pre``'s input must be: ``(N, 3, 16, 16)``."""
    out = []
    for img in data['inputs']:
        x = img.float()[[2, 1, 0]] if pre['bgr_to_rgb'] else img.float()
        out.append((x - torch.tensor(pre['mean']).view(3, 1, 1)) /
                   torch.tensor(pre['std']).view(3, 1, 1))
    return torch.stack(out)


def _record_backbone_inputs(model):
    seen = []
    model.student.backbone.register_forward_pre_hook(
        lambda mod, args: seen.append(args[0].detach().clone()))
    return seen


def _run(model, path, data):
    """One of the paths a batch takes into the model in the student slot."""
    from mmengine.optim import OptimWrapper
    if path == 'train_step':
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        model.train_step(data, OptimWrapper(opt))
    elif path == 'ddp_train':  # MMDistributedDataParallel.train_step
        batch = model.data_preprocessor(data, training=True)
        model(**batch, mode='loss')
    elif path == 'val_step':
        model.val_step(data)
    elif path == 'test_step':  # also the labelling pass's call
        model.test_step(data)
    elif path == 'student_test_step':  # the segmentor's own test_step
        model.student.test_step(data)


@pytest.mark.parametrize('path', ['train_step', 'ddp_train', 'val_step',
                                  'test_step', 'student_test_step'])
def test_each_model_is_fed_by_its_own_preprocessor(path):
    model = _per_model()
    seen = _record_backbone_inputs(model)
    for name in ('A', 'B', 'A'):
        model.activate(name)
        seen.clear()
        data = _batch([False, False])
        _run(model, path, data)
        torch.testing.assert_close(seen[0], _normalised(data, PRE[name]))
    # the two normalisations really differ
    assert not torch.allclose(_normalised(data, A_PRE),
                              _normalised(data, B_PRE))


def test_eval_model_is_activated_before_preprocessing():
    model = _per_model(eval_model='B')
    seen = _record_backbone_inputs(model)
    assert model.active_name == 'A'
    data = _batch([False])
    model.test_step(data)
    assert model.active_name == 'B'
    torch.testing.assert_close(seen[0], _normalised(data, B_PRE))
    model.activate('A')
    seen.clear()
    model.val_step(data)
    assert model.active_name == 'B'
    torch.testing.assert_close(seen[0], _normalised(data, B_PRE))


def test_labelling_pass_returns_the_active_models_predictions():
    """``activate(name)`` + ``test_step(data)`` == model ``name`` alone."""
    model = _per_model().eval()
    data = _batch([False, False])
    logits = {}
    for name in ('B', 'A'):
        model.activate(name)
        out = model.test_step(data)
        cfg = _segmentor_cfg()
        cfg['data_preprocessor'].update(PRE[name])
        alone = MODELS.build(ConfigDict(cfg)).eval()
        alone.load_state_dict(model.model_state_dict(name))
        ref = alone.test_step(data)
        for o, r in zip(out, ref):
            torch.testing.assert_close(o.seg_logits.data, r.seg_logits.data)
        logits[name] = out[0].seg_logits.data
        # model name's weights with the other model's input differ
        other = model.other_name(name)
        cfg['data_preprocessor'].update(PRE[other])
        wrong = MODELS.build(ConfigDict(cfg)).eval()
        wrong.load_state_dict(model.model_state_dict(name))
        assert not torch.allclose(wrong.test_step(data)[0].seg_logits.data,
                                  logits[name])


def test_swaps_and_state_dicts_keep_the_preprocessors(model):
    from mmengine.runner.checkpoint import load_state_dict
    m = _per_model()
    router = m.data_preprocessor
    assert type(router).__name__ == 'PerModelDataPreProcessor'
    assert m.student.data_preprocessor is router
    means = {n: p.mean.clone() for n, p in router.preprocessors.items()}
    for name in ('B', 'A', 'B'):
        m.activate(name)
        assert router.active == name
        for n, p in router.preprocessors.items():
            assert torch.equal(p.mean, means[n])  # nothing swapped
    # the state dict layout is that of a shared-preprocessor model: old
    # checkpoints load, in both directions
    assert list(m.state_dict()) == list(model.state_dict())
    state = m.state_dict()  # B in the student slot
    fresh = _per_model()
    assert fresh.data_preprocessor.active == 'A'
    fresh.load_state_dict(state)  # torch's loader
    assert fresh.active_name == 'B' and fresh.data_preprocessor.active == 'B'
    fresh = _per_model()
    load_state_dict(fresh, state, strict=True)  # mmengine's (Runner, resume)
    assert fresh.data_preprocessor.active == 'B'
    data = _batch([False])
    seen = _record_backbone_inputs(fresh)
    fresh.test_step(data)
    torch.testing.assert_close(seen[0], _normalised(data, B_PRE))
    model.load_state_dict(state)  # per-model state into a shared model
    # a copy routes on its own
    dup = copy.deepcopy(m)
    assert dup.student.data_preprocessor is dup.data_preprocessor
    dup.activate('A')
    assert dup.data_preprocessor.active == 'A' and router.active == 'B'


def test_equal_preprocessors_stay_one_plain_preprocessor(model):
    from mmseg.models import SegDataPreProcessor
    assert type(model.data_preprocessor) is SegDataPreProcessor
    assert model.student.data_preprocessor is not model.data_preprocessor
    # the demo's form: the shared one also given at the top level
    cfg = _segmentor_cfg()
    m = MODELS.build(dict(type='DMTSegmentor', segmentor=cfg,
                          data_preprocessor=cfg['data_preprocessor']))
    assert type(m.data_preprocessor) is SegDataPreProcessor
    # overrides that repeat the segmentor's preprocessor change nothing
    m = MODELS.build(dict(
        type='DMTSegmentor', segmentor=cfg,
        model_overrides=dict(A=dict(data_preprocessor=dict(mean=[0, 0, 0])))))
    assert type(m.data_preprocessor) is SegDataPreProcessor


def test_a_shared_preprocessor_that_contradicts_the_models_is_refused():
    cfg = _segmentor_cfg()
    with pytest.raises(ValueError, match='model.data_preprocessor=None'):
        MODELS.build(dict(
            type='DMTSegmentor', segmentor=cfg,
            model_overrides=dict(A=dict(data_preprocessor=A_PRE)),
            data_preprocessor=cfg['data_preprocessor']))
    # what mmengine's Runner fills in from a config's top level
    with pytest.raises(ValueError, match='is not the data_preprocessor'):
        MODELS.build(dict(
            type='DMTSegmentor', segmentor=cfg,
            data_preprocessor=dict(type='SegDataPreProcessor',
                                   mean=[1, 2, 3], std=[1, 1, 1])))
