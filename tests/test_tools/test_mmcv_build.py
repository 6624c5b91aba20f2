# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/mmcv_build/build_mmcv.sh on a three-file stand-in for mmcv 2.1.0's
source archive (same layout, same -std=c++17 flags, the same switch to the
CUDA ops): the c++20 flags reach the compilers, the progress line, the
precompiled header, the verified wheel in the cache, a failed or
interrupted build that caches nothing. Seconds, not the real build."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile

import pytest

from conftest import REPO
from test_setup_env import WHL, bash

FAKE_SETUP = """
import os
import torch
from setuptools import setup
from torch.utils.cpp_extension import (BuildExtension, CppExtension,
                                       CUDAExtension)
# as mmcv 2.1.0's setup.py: c++17 for torch > 1.12 (torch >= 2.6 needs 20),
# the CUDA ops where torch sees a GPU or FORCE_CUDA=1
src = 'mmcv/ops/csrc/pytorch/'
sources = [src + 'a.cpp', src + 'b.cpp', src + 'pybind.cpp']
args = {'cxx': ['-std=c++17']}
extension = CppExtension
if torch.cuda.is_available() or os.getenv('FORCE_CUDA', '0') == '1':
    sources.append(src + 'cuda/k.cu')
    args['nvcc'] = ['-std=c++17']
    extension = CUDAExtension
ext = extension(
    name='mmcv._ext', sources=sources, extra_compile_args=args,
    include_dirs=[os.path.abspath('./mmcv/ops/csrc/common')])
assert os.getenv('MMCV_WITH_OPS') == '1'
import time; time.sleep(float(os.getenv('STAND_IN_SLEEP', '0')))
setup(name='mmcv', version='2.1.0', packages=['mmcv'], ext_modules=[ext],
      cmdclass={'build_ext': BuildExtension})
"""
HEADER = """
#pragma once
#if __cplusplus < 202002L
#error "built without -std=c++20"
#endif
#include <vector>
"""
UNIT = '#include "pytorch_cpp_helper.hpp"\nint unit_{n}() {{ return {n}; }}\n'
KERNEL = """
#if __cplusplus < 202002L
#error "nvcc got no -std=c++20"
#endif
__global__ void k(float *x) { x[threadIdx.x] *= 2.0f; }
"""
PYBIND = """
#include <Python.h>
static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "_ext", 0, -1, 0};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&m); }
"""


def fake_mmcv_sdist(path) -> str:
    """A three-unit stand-in for mmcv-2.1.0.tar.gz, same layout and flags."""
    root = path / 'mmcv-2.1.0'
    files = {
        'setup.py': FAKE_SETUP,
        'mmcv/__init__.py': '',
        'mmcv/ops/csrc/common/pytorch_cpp_helper.hpp': HEADER,
        'mmcv/ops/csrc/pytorch/a.cpp': UNIT.format(n=1),
        'mmcv/ops/csrc/pytorch/b.cpp': UNIT.format(n=2),
        'mmcv/ops/csrc/pytorch/pybind.cpp': PYBIND,
        'mmcv/ops/csrc/pytorch/cuda/k.cu': KERNEL,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    sdist = path / 'mmcv-2.1.0.tar.gz'
    with tarfile.open(sdist, 'w:gz') as tar:
        tar.add(root, arcname='mmcv-2.1.0')
    shutil.rmtree(root)
    return str(sdist)


def run_build(sdist, out, ops, tmp, **env):
    return subprocess.run(
        ['bash', str(REPO / 'tools/mmcv_build/build_mmcv.sh'),
         sys.executable, str(out), ops],
        capture_output=True, text=True,
        env={**os.environ, 'DMT_MM_MMCV_SDIST': str(sdist),
             'TMPDIR': str(tmp), 'MAX_JOBS': '1', **env})


@pytest.mark.slow
def test_build_script_on_a_stand_in_source(tmp_path):
    pytest.importorskip('torch')
    sdist = fake_mmcv_sdist(tmp_path)
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    # the leftovers of a build that was killed (its process is gone)
    dead = subprocess.Popen(['true'])
    dead.wait()
    stale = tmp / 'dmt_mm-mmcv-build.old'
    stale.mkdir()
    (stale / 'pid').write_text(str(dead.pid))
    out = tmp_path / 'cache' / 'wheels' / 'key'
    r = run_build(sdist, out, 'cpu', tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    err = r.stderr
    assert f'removing the leftovers of an interrupted build: {stale}' in err
    assert 'mmcv setup.py -std=c++14/17 -> -std=c++20' in err
    assert ("CUDA_VISIBLE_DEVICES= (CPU ops) MAX_JOBS=1 CFLAGS=' -g0' "
            'CXX=tools/mmcv_build/pch_cxx.sh') in err
    assert '[setup_env] mmcv build: 3/3 units' in err
    assert '[pch_cxx] precompiling pytorch_cpp_helper.hpp' in err
    assert os.listdir(tmp) == []  # the build directory is removed
    whl = out / WHL.replace('cp311', f'cp3{sys.version_info[1]}')
    assert sorted(os.listdir(out)) == sorted(
        ['build-settings.txt', whl.name, whl.name + '.sha256'])
    assert bash(f'cached_wheel {out}').stdout.strip() == str(whl)
    names = zipfile.ZipFile(whl).namelist()
    assert any(re.match(r'mmcv/_ext\..*\.so$', n) for n in names), names
    settings = (out / 'build-settings.txt').read_text()
    assert 'ops=cpu' in settings and 'mmcv=2.1.0' in settings
    # the same settings as the cache key setup_env.sh computes
    key_settings = bash(
        f'build_settings "$({sys.executable} -c "import torch; '
        f'print(torch.__version__)")" cp3{sys.version_info[1]} cpu').stdout
    assert settings == key_settings
    log = (tmp_path / 'cache' / 'wheels' / 'build.log').read_text()
    assert '-std=c++20' in log and '-std=c++17' not in log
    # a failing build caches nothing and names the log
    bad = tmp_path / 'bad'
    bad.mkdir()
    with tarfile.open(sdist) as tar:
        tar.extractall(bad)
    unit = bad / 'mmcv-2.1.0/mmcv/ops/csrc/pytorch/b.cpp'
    unit.write_text(unit.read_text() + 'int broken( {\n')
    with tarfile.open(bad / 'mmcv-2.1.0.tar.gz', 'w:gz') as tar:
        tar.add(bad / 'mmcv-2.1.0', arcname='mmcv-2.1.0')
    out2 = tmp_path / 'cache2' / 'key'
    r = run_build(bad / 'mmcv-2.1.0.tar.gz', out2, 'cpu', tmp)
    assert r.returncode == 1
    assert 'the mmcv build failed' in r.stderr and 'b.cpp' in r.stderr
    assert f'full output: {tmp_path / "cache2" / "build.log"}' in r.stderr
    assert not out2.exists() or os.listdir(out2) == []
    assert os.listdir(tmp) == []


@pytest.mark.slow
def test_build_script_cuda_ops_on_a_stand_in_source(tmp_path):
    """``--cuda``: FORCE_CUDA=1, nvcc gets -std=c++20 (the stand-in's
    kernel refuses anything older), the toolkit nvcc reports is CUDA_HOME."""
    torch = pytest.importorskip('torch')
    if not bash('find_nvcc').stdout.strip():
        pytest.skip('no nvcc on this machine')
    # torch compiles CUDA extensions only with nvcc of its CUDA major
    # version (setup_env.sh --cuda refuses the same mismatch)
    nvcc = bash('nvcc_release').stdout.strip()
    if (torch.version.cuda or '').split('.')[0] != nvcc.split('.')[0]:
        pytest.skip(f'nvcc is CUDA {nvcc} but torch {torch.__version__} is '
                    f'built for CUDA {torch.version.cuda}: no CUDA build of '
                    'its extensions is possible here')
    sdist = fake_mmcv_sdist(tmp_path)
    (tmp_path / 'tmp').mkdir()
    out = tmp_path / 'cache' / 'key'
    r = run_build(sdist, out, 'cuda', tmp_path / 'tmp',
                  TORCH_CUDA_ARCH_LIST='9.0')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'FORCE_CUDA=1 MAX_JOBS=1' in r.stderr
    assert '[setup_env] mmcv build: 4/4 units' in r.stderr
    log = (tmp_path / 'cache' / 'build.log').read_text()
    [nvcc_line] = [ln for ln in log.splitlines() if 'cuda/k.cu' in ln and
                   re.match(r'\s*\[\d/4\]', ln)]
    assert '-std=c++20' in nvcc_line and '-std=c++17' not in nvcc_line
    settings = (out / 'build-settings.txt').read_text().splitlines()
    assert 'ops=cuda' in settings and 'TORCH_CUDA_ARCH_LIST=9.0' in settings
    assert any(re.fullmatch(r'nvcc=\d+\.\d+', ln) for ln in settings)


@pytest.mark.slow
def test_interrupted_build_caches_nothing(tmp_path):
    """Ctrl-C during the compile: exit 130, no wheel, no build directory."""
    pytest.importorskip('torch')
    sdist = fake_mmcv_sdist(tmp_path)
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    out = tmp_path / 'cache' / 'key'
    log = open(tmp_path / 'out.txt', 'w')
    p = subprocess.Popen(
        ['bash', str(REPO / 'tools/mmcv_build/build_mmcv.sh'),
         sys.executable, str(out), 'cpu'],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        # a terminal's Ctrl-C reaches processes that do not ignore SIGINT
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, 'DMT_MM_MMCV_SDIST': sdist, 'TMPDIR': str(tmp),
             'STAND_IN_SLEEP': '60'})
    build_log = tmp_path / 'cache' / 'build.log'
    try:
        for _ in range(600):  # until pip runs the (sleeping) setup.py
            time.sleep(0.1)
            if build_log.exists() and 'setup.py' in build_log.read_text():
                break
        time.sleep(1)
        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(timeout=30) == 130
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    text = (tmp_path / 'out.txt').read_text()
    assert 'interrupted: the build is removed, nothing was cached' in text
    assert 'Traceback' not in text
    assert os.listdir(tmp) == []
    assert not out.exists() or os.listdir(out) == []
