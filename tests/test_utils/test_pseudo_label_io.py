# Copyright (c) dmt_mm contributors. All rights reserved.
import os

import cv2
import numpy as np
import pytest
import torch

from dmt_mm.utils.pseudo_label_io import (CONF_LEVELS, decode_confidence,
                                          encode_confidence,
                                          new_pseudo_dir, pack_pseudo_label,
                                          publish_pseudo_dir,
                                          read_pseudo_label,
                                          unpack_pseudo_label,
                                          write_pseudo_label)


def test_levels_are_increasing_and_span_the_range():
    assert CONF_LEVELS.shape == (256, )
    assert np.all(np.diff(CONF_LEVELS) > 0)
    assert CONF_LEVELS[0] == 0.0 and CONF_LEVELS[127] < 0.99
    assert CONF_LEVELS[128] == pytest.approx(0.99)
    assert CONF_LEVELS[255] == pytest.approx(1 - 1e-6)


def test_encode_floors_to_the_level_grid():
    conf = torch.tensor([0.0, 0.5, 0.9899, 0.99, 0.995, 0.9999, 1.0])
    level = encode_confidence(conf)
    assert level.dtype == torch.uint8
    decoded = decode_confidence(level)
    # never overstates, and is the highest level not above the value
    assert torch.all(decoded <= conf + 1e-7)
    nxt = torch.from_numpy(CONF_LEVELS).float()[
        (level.long() + 1).clamp(max=255)]
    assert torch.all((nxt > conf) | (level == 255))
    assert level[0] == 0 and level[-1] == 255
    assert level[1] == 64  # 0.5 / (0.99 / 128) = 64.6 -> 64


def test_resolution_near_one_separates_confident_pixels():
    # A uniform 8-bit grid would put all of these into one bin.
    conf = torch.tensor([0.991, 0.999, 0.9999, 0.99999])
    level = encode_confidence(conf)
    assert len(set(level.tolist())) == 4
    err = (conf - decode_confidence(level)) / (1 - conf)
    assert torch.all(err < 0.08)  # ~7.5 % relative steps in (1 - c)


def test_pack_unpack_roundtrip_and_label_limit():
    label = torch.tensor([[0, 1], [20, 254]])
    level = torch.tensor([[0, 255], [7, 128]], dtype=torch.uint8)
    packed = pack_pseudo_label(label, level)
    assert packed.dtype == np.uint16
    lab, lev = unpack_pseudo_label(packed)
    np.testing.assert_array_equal(lab, label.numpy())
    np.testing.assert_array_equal(lev, level.numpy())
    with pytest.raises(ValueError, match='255'):
        pack_pseudo_label(torch.tensor([[255]]), torch.tensor([[0]]))
    with pytest.raises(ValueError, match='shape'):
        pack_pseudo_label(torch.zeros(2, 2), torch.zeros(2, 3))


def test_write_read_is_atomic_and_two_bytes_per_pixel(tmp_path):
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 21, (60, 80), generator=g)
    level = torch.randint(0, 256, (60, 80), generator=g).to(torch.uint8)
    path = str(tmp_path / 'sub' / 'img.png')
    write_pseudo_label(path, label, level)
    assert os.listdir(tmp_path / 'sub') == ['img.png']  # no temp file left
    lab, lev = read_pseudo_label(path)
    np.testing.assert_array_equal(lab, label.numpy())
    np.testing.assert_array_equal(lev, level.numpy())
    # random data does not compress: the file is about 2 bytes per pixel
    assert os.path.getsize(path) < 2.2 * 60 * 80


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.png'):
        read_pseudo_label(str(tmp_path / 'missing.png'))
    bad = tmp_path / 'rgb.png'
    cv2.imwrite(str(bad), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='rgb.png'):
        read_pseudo_label(str(bad))


def test_publish_swaps_the_link_and_removes_what_a_kill_left(tmp_path):
    final = str(tmp_path / 'for_A')
    first = new_pseudo_dir(final)
    open(os.path.join(first, 'a.png'), 'w').close()
    publish_pseudo_dir(first, final)
    assert os.path.islink(final) and os.listdir(final) == ['a.png']
    # what a process killed mid-pass / mid-publish leaves behind
    dead_stage = new_pseudo_dir(final)
    os.symlink(os.path.basename(first[:-4]),
               str(tmp_path / '.for_A.link.999999'))
    second = new_pseudo_dir(final)
    open(os.path.join(second, 'b.png'), 'w').close()
    publish_pseudo_dir(second, final)
    assert os.listdir(final) == ['b.png']
    assert not os.path.exists(dead_stage)
    umask = os.umask(0)
    os.umask(umask)
    # the set and files written atomically get the usual modes, not 0700/0600
    assert os.stat(second[:-4]).st_mode & 0o777 == 0o777 & ~umask
    from dmt_mm.utils.pseudo_label_io import atomic_write_bytes
    atomic_write_bytes(str(tmp_path / 'x.json'), b'{}')
    assert os.stat(tmp_path / 'x.json').st_mode & 0o777 == 0o666 & ~umask
    os.remove(tmp_path / 'x.json')
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['for_A', os.path.basename(second[:-4])])


def test_encode_decode_equal_the_reference_formula():
    # the formula before the level table was cached per device, inlined
    table = torch.from_numpy(CONF_LEVELS).float()
    gen = torch.Generator().manual_seed(3)
    conf = torch.cat([
        torch.rand(5000, generator=gen),
        1 - torch.rand(5000, generator=gen) * 1e-2,  # the log-spaced part
        1 - torch.rand(500, generator=gen) * 1e-6,
        torch.tensor([0.0, 1.0, 0.99]), table
    ])
    ref = (torch.searchsorted(table, conf, right=True) - 1).clamp_(
        0, 255).to(torch.uint8)
    assert torch.equal(encode_confidence(conf), ref)
    assert torch.equal(encode_confidence(conf[:10758].view(-1, 2, 3)[:, 1]),
                       ref[:10758].view(-1, 2, 3)[:, 1])  # not contiguous
    assert torch.equal(encode_confidence(conf.double()), ref)
    assert torch.equal(decode_confidence(ref), table[ref.long()])
    np.testing.assert_array_equal(
        decode_confidence(ref.numpy()),
        CONF_LEVELS.astype(np.float32)[ref.numpy()])
    # the cached table is not handed out: callers cannot change it
    decode_confidence(ref)[:] = 2
    decode_confidence(ref.numpy())[:] = 2
    assert torch.equal(decode_confidence(ref), table[ref.long()])
    assert decode_confidence(np.uint8(255)) == np.float32(CONF_LEVELS[255])


def test_the_level_table_is_copied_to_a_device_once(monkeypatch):
    """A copy per call would wait for the device's queued work."""
    copies = []
    original = torch.Tensor.to

    def counting_to(self, *args, **kwargs):
        copies.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, 'to', counting_to)
    for _ in range(3):  # 'meta': a device other than the CPU, here
        level = encode_confidence(torch.rand(4, 5, device='meta'))
        assert level.device.type == 'meta' and level.dtype == torch.uint8
        decode_confidence(level)
    encode_confidence(torch.rand(4))
    assert len([a for a in copies if a and str(a[0]) == 'meta']) <= 1


def test_in_place_write_gives_the_same_bytes(tmp_path):
    g = torch.Generator().manual_seed(1)
    label = torch.randint(0, 21, (30, 40), generator=g)
    level = torch.randint(0, 256, (30, 40), generator=g).to(torch.uint8)
    atomic, in_place = tmp_path / 'a.png', tmp_path / 'new' / 'b.png'
    write_pseudo_label(str(atomic), label, level)
    write_pseudo_label(str(in_place), label, level, atomic=False)
    assert os.listdir(tmp_path / 'new') == ['b.png']
    assert in_place.read_bytes() == atomic.read_bytes()
    write_pseudo_label(str(in_place), label.flip(0), level, atomic=False)
    np.testing.assert_array_equal(
        read_pseudo_label(str(in_place))[0], label.flip(0).numpy())
