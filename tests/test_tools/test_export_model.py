# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/export_model.py loads through ``load_checkpoint_safely``: a
checkpoint whose pickle would run code is refused, with the file and the
refused global named, before anything runs or is written. The export of a
real run: tests/test_engine/test_dmt_end_to_end.py."""
import os
import pickle

import pytest
import torch

from conftest import REPO, load_tool

CONFIG = str(REPO / 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py')


class _Touch:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_code_running_checkpoint_is_refused(tmp_path):
    export = load_tool('tools/export_model.py', 'dmt_export_tool_refusal')
    marker, ckpt = tmp_path / 'ran', tmp_path / 'evil.pth'
    torch.save({'state_dict': {'active_index': torch.tensor(0)},
                'meta': _Touch(marker)}, ckpt)
    out = tmp_path / 'a.pth'
    with pytest.raises(pickle.UnpicklingError) as err:
        export.main([CONFIG, str(ckpt), str(out)])
    assert str(err.value).startswith(
        f'refused to load {ckpt}: it needs {os.system.__module__}.system,')
    assert not marker.exists() and not out.exists()
