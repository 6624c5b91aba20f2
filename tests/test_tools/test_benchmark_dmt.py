# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_dmt.py and tools/device/ at CPU size.

Performance is never asserted: these check that every row is measured and
printed, that the device scripts run, and what the wheel list holds.
"""
import json
import math
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO, load_tool

bench = load_tool('tools/analysis_tools/benchmark_dmt.py', 'benchmark_dmt')
wheels_tool = load_tool('tools/device/make_wheels.py', 'make_wheels')
ROWS = ('seg step', 'cls step', 'labelling', 'storage', 'loading')


def test_tiny_run_prints_every_row(tiny_scenes, tmp_path, capsys):
    out = tmp_path / 'bench.json'
    rc = bench.main([
        '--device', 'cpu', '--tiny', '--threads', '1', '--writer-threads',
        '2', '--data-root', tiny_scenes, '--json',
        str(out)
    ])
    text = capsys.readouterr().out
    assert rc == 0, text
    for row in ROWS:
        assert f'| {row}' in text
    assert 'median' in text and 'spread (min..max)' in text
    rows = json.load(open(out))['rows']
    assert not [r for r in rows if 'error' in r]
    assert {r['row'] for r in rows} == set(ROWS)
    for r in rows:
        assert math.isfinite(r['median']) and r['median'] > 0
        assert r['low'] <= r['median'] <= r['high']
    labelling = [r for r in rows if r['row'] == 'labelling']
    assert len(labelling) == 2  # main thread and writer threads
    assert set(labelling[0]['ips']) == {'plain', 'main', 'threads'}
    assert labelling[0]['consumer_ms'] > 0 and labelling[0]['test_step_ms'] > 0
    assert 'SegLabeller alone' in labelling[0]['detail']
    # the storage row read the PNGs of a whole pass (4 tiny scenes)
    assert '4 files' in [r for r in rows if r['row'] == 'storage'][0]['detail']


def test_errors_exit_non_zero(tmp_path, capsys):
    # the storage row needs the labelling row's files: an error, reported
    rc = bench.main(['--device', 'cpu', '--tiny', '--rows', 'storage'])
    text = capsys.readouterr().out
    assert rc == 1
    assert 'ERROR' in text and 'run the label row first' in text
    assert bench.main(['--device', 'cpu', '--rows', 'nope']) == 2


@pytest.mark.slow
def test_run_benchmark_sh_at_cpu_size(tmp_path):
    """The GPU script with DEVICE=cpu: the paper's R101 at tiny size."""
    env = dict(
        os.environ,
        DEVICE='cpu',
        EXTRA='--tiny --threads 1',
        OUT=str(tmp_path),
        PYTHON=sys.executable,
        SITE=str(tmp_path / 'no_site'))
    proc = subprocess.run(['bash', 'tools/device/run_benchmark.sh'],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'r101 32x32, batch 1+3' in proc.stdout
    assert 'VOC 1/106 estimate' in proc.stdout
    rows = json.load(open(tmp_path / 'benchmark_dmt_amp.json'))['rows']
    assert {r['row'] for r in rows} == {'seg step', 'cls step', 'labelling',
                                         'storage'}


def test_wheel_list_is_what_the_gpu_machine_lacks(capsys):
    assert wheels_tool.main(['--list']) == 0
    listed = capsys.readouterr().out.split('\n')
    names = {line.split('==')[0] for line in listed if line}
    for needed in ('mmengine', 'mmsegmentation', 'mmpretrain', 'addict',
                   'yapf', 'termcolor', 'ftfy', 'prettytable', 'setuptools',
                   'wheel'):
        assert needed in names
    for present in ('torch', 'torchvision', 'numpy', 'opencv-python',
                    'scipy', 'matplotlib', 'rich', 'regex', 'pyyaml'):
        assert present not in names
    assert any(line.startswith('mmcv==2.1.0') and 'source' in line
               for line in listed)
    setuptools = [ln for ln in listed if ln.startswith('setuptools==')][0]
    assert int(setuptools.split('==')[1].split('.')[0]) < 70


def _wheel(folder, name='dmt_probe', version='0.1'):
    """A minimal pure-Python wheel (what pip needs to install one)."""
    info = f'{name}-{version}.dist-info'
    path = folder / f'{name}-{version}-py3-none-any.whl'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr(f'{name}/__init__.py', 'VALUE = 42\n')
        zf.writestr(f'{info}/METADATA',
                    f'Metadata-Version: 2.1\nName: {name}\n'
                    f'Version: {version}\n')
        zf.writestr(f'{info}/WHEEL',
                    'Wheel-Version: 1.0\nGenerator: test\n'
                    'Root-Is-Purelib: true\nTag: py3-none-any\n')
        zf.writestr(f'{info}/RECORD', '')
    return path


@pytest.mark.slow
def test_install_sh_installs_offline(tmp_path):
    """Wheels into a target folder without network; mmcv imports here, so
    the build from the source archive is skipped."""
    whl = tmp_path / 'whl'
    whl.mkdir()
    _wheel(whl)
    target = tmp_path / 'site'
    env = dict(os.environ, PYTHON=sys.executable, PIP_NO_INDEX='1')
    proc = subprocess.run(
        ['bash', 'tools/device/install.sh',
         str(whl), str(target)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (target / 'dmt_probe' / '__init__.py').is_file()
    assert 'no build' in proc.stderr and ': ok' in proc.stdout
    # without wheels: a clear error
    empty = tmp_path / 'empty'
    empty.mkdir()
    proc = subprocess.run(['bash', 'tools/device/install.sh',
                           str(empty)],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 1 and 'make_wheels.py' in proc.stderr
