# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMTSegmentor: the student slot, the stored model and the loss context."""
import pytest
import torch
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
