# Copyright (c) dmt_mm contributors. All rights reserved.
"""``tools/slurm_train.sh`` and ``tools/slurm_test.sh`` against a stub
``srun`` first on PATH that records its arguments and environment."""
import json
import os
import os.path as osp
import stat
import subprocess
import sys

import pytest
from conftest import REPO, load_tool

TOOLS = osp.join(str(REPO), 'tools')
STUB = f'''#!{sys.executable}
import json, os, sys
with open(os.environ['SRUN_RECORD'], 'w') as f:
    json.dump(dict(argv=sys.argv[1:], env=dict(os.environ)), f)
'''


@pytest.fixture
def srun(tmp_path):
    """Run a slurm script; return what reached srun (argv, env)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(STUB)
    (bin_dir / 'srun').chmod(stat.S_IRWXU)
    record = tmp_path / 'srun.json'

    def run(script, *args, **env):
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ('GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK',
                                 'SRUN_ARGS', 'PYTHON')}
        full_env.update(env, SRUN_RECORD=str(record),
                        PATH=f'{bin_dir}:{os.environ["PATH"]}')
        subprocess.run(['bash', osp.join(TOOLS, script), *args],
                       env=full_env, cwd=str(tmp_path), check=True,
                       capture_output=True, text=True)
        return json.loads(record.read_text())

    return run


def _split(argv, python='python'):
    """srun's own options, then the command it starts."""
    cut = argv.index(python)
    return argv[:cut], argv[cut:]


def test_slurm_train(srun):
    """The line of docs/train_test_export.md: GPUS=16 on two nodes of 8,
    extra srun options."""
    got = srun('slurm_train.sh', 'gpu', 'dmt_voc', 'cfg.py', 'work_dirs/x',
               '--amp', '--cfg-options', 'train_cfg.max_iters=3',
               GPUS='16', SRUN_ARGS='--time=8:00:00 --quotatype=auto')
    opts, cmd = _split(got['argv'])
    assert opts[:2] == ['-p', 'gpu']
    assert '--job-name=dmt_voc' in opts
    assert '--gres=gpu:8' in opts and '--ntasks=16' in opts
    assert '--ntasks-per-node=8' in opts and '--cpus-per-task=5' in opts
    assert opts[-2:] == ['--time=8:00:00', '--quotatype=auto']
    assert cmd == [
        'python', '-u', osp.join(TOOLS, 'train.py'), 'cfg.py',
        '--work-dir=work_dirs/x', '--launcher=slurm', '--amp',
        '--cfg-options', 'train_cfg.max_iters=3'
    ]
    assert osp.realpath(got['env']['PYTHONPATH'].split(':')[0]) == \
        osp.realpath(str(REPO))
    # what reaches train.py parses as intended
    args = load_tool('tools/train.py', 'slurm_train_tool').parse_args(cmd[3:])
    assert (args.config, args.work_dir, args.launcher, args.amp) == \
        ('cfg.py', 'work_dirs/x', 'slurm', True)
    assert args.cfg_options == {'train_cfg.max_iters': 3}


def test_slurm_test_one_gpu(srun):
    got = srun('slurm_test.sh', 'p', 'ev', 'cfg.py', 'k.pth', '--model', 'B',
               GPUS='1', CPUS_PER_TASK='2', PYTHON='python3.12')
    opts, cmd = _split(got['argv'], 'python3.12')
    assert opts[:2] == ['-p', 'p'] and '--job-name=ev' in opts
    # one GPU: one task, and a node is asked for one GPU, not 8
    assert '--gres=gpu:1' in opts and '--ntasks=1' in opts
    assert '--ntasks-per-node=1' in opts and '--cpus-per-task=2' in opts
    assert cmd == [
        'python3.12', '-u', osp.join(TOOLS, 'test.py'), 'cfg.py', 'k.pth',
        '--launcher=slurm', '--model', 'B'
    ]
    args = load_tool('tools/test.py', 'slurm_test_tool').parse_args(cmd[3:])
    assert (args.checkpoint, args.launcher, args.model) == \
        ('k.pth', 'slurm', 'B')


def test_slurm_gpus_per_node_and_defaults(srun):
    opts, _ = _split(srun('slurm_train.sh', 'p', 'j', 'c.py', 'w')['argv'])
    assert '--ntasks=8' in opts and '--gres=gpu:8' in opts
    opts, _ = _split(
        srun('slurm_train.sh', 'p', 'j', 'c.py', 'w', GPUS='8',
             GPUS_PER_NODE='4')['argv'])
    assert '--ntasks=8' in opts and '--ntasks-per-node=4' in opts
    assert '--gres=gpu:4' in opts


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_usage(script):
    out = subprocess.run(['bash', osp.join(TOOLS, script), 'p', 'j', 'c.py'],
                         capture_output=True, text=True)
    assert out.returncode == 2 and 'usage' in out.stderr
