# Copyright (c) dmt_mm contributors. All rights reserved.
"""The set-up scripts without building mmcv: tools/setup_env.sh's checks
(Python range, C++ compiler, nvcc, disk space), the wheel cache (atomic
publish, validation of a corrupt or half-written wheel), the build progress
filter, the manual-install commands of docs/getting_started.md. The build script itself:
test_mmcv_build.py; the stacks (--stack, --pins), the Makefile and
.ci/run: test_stacks.py."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

LIB = REPO / 'tools' / 'mmcv_build' / 'lib.sh'
SETUP = REPO / 'tools' / 'setup_env.sh'


def bash(script: str, env=None, cwd=None) -> subprocess.CompletedProcess:
    """Run ``script`` in bash with lib.sh sourced."""
    return subprocess.run(
        ['bash', '-c', f'set -euo pipefail; source {LIB}; {script}'],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
        cwd=cwd)


def setup_env(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ['bash', str(SETUP), *args], capture_output=True, text=True,
        env={**os.environ, 'PYTHON': sys.executable, **env})


def fake_exe(path, body: str) -> str:
    path.write_text('#!/bin/sh\n' + body + '\n')
    path.chmod(0o755)
    return str(path)


# ------------------------------------------------------------------ checks
def test_check_passes_on_this_machine():
    r = setup_env('--check')
    assert r.returncode == 0, r.stderr
    assert 'this machine can run the set-up of stack main: Python 3.' in \
        r.stderr


def test_unsupported_python_names_the_range(tmp_path):
    py = fake_exe(tmp_path / 'python3', 'echo 3.8.18')
    r = setup_env('--check', PYTHON=py)
    assert r.returncode == 1
    assert f'Python 3.8.18 ({py}) is not supported' in r.stderr
    assert 'needs Python 3.10 to 3.12' in r.stderr
    assert 'tested on 3.11' in r.stderr
    r = setup_env('--check', PYTHON=str(tmp_path / 'no_python'))
    assert r.returncode == 1 and 'no Python interpreter' in r.stderr


def test_missing_or_old_compiler(tmp_path):
    r = setup_env('--check', CXX=str(tmp_path / 'bin' / 'c++'))
    assert r.returncode == 1
    assert 'ERROR: no C++ compiler' in r.stderr
    assert 'apt-get install g++' in r.stderr
    # a PATH without any c++: everything the script runs, but no compiler
    bin_dir = tmp_path / 'path'
    bin_dir.mkdir()
    needed = ['bash', 'sh', 'cat', 'cut', 'df', 'awk', 'sed', 'grep', 'ls',
              'sort', 'head', 'tail', 'dirname', 'sha256sum', 'date', 'tr',
              'uname', 'env']
    for tool in needed:
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = dict(PATH=str(bin_dir), DMT_MM_CACHE=str(tmp_path / 'cache'))
    r = setup_env('--check', **env)
    assert r.returncode == 1 and "no C++ compiler ('c++'" in r.stderr
    # a compiler without C++20 support (torch's headers need it)
    old = fake_exe(tmp_path / 'old-g++',
                   'case "$*" in *c++20*) echo "unrecognized option '
                   "'-std=c++20'\" >&2; exit 1;; esac")
    r = setup_env('--check', CXX=old)
    assert r.returncode == 1
    assert 'cannot compile C++20' in r.stderr
    assert "unrecognized option '-std=c++20'" in r.stderr


def test_cuda_without_nvcc(tmp_path):
    r = setup_env('--cuda', '--check', CUDA_HOME=str(tmp_path / 'cuda'))
    assert r.returncode == 1
    assert f'--cuda: CUDA_HOME={tmp_path / "cuda"} has no bin/nvcc' in \
        r.stderr
    r = bash('find_nvcc', env=dict(CUDA_HOME=str(tmp_path)))
    assert r.returncode == 0 and r.stdout == ''
    nvcc = tmp_path / 'bin' / 'nvcc'
    nvcc.parent.mkdir()
    fake_exe(nvcc, 'echo "Cuda compilation tools, release 12.4, V12.4.131"')
    r = bash('check_nvcc', env=dict(CUDA_HOME=str(tmp_path)))
    assert r.returncode == 0 and r.stdout.strip() == '12.4'


def test_not_enough_disk_space(tmp_path):
    r = bash(f'check_free_space {tmp_path}/not/yet 1 "the test"')
    assert r.returncode == 0, r.stderr
    r = bash(f'check_free_space {tmp_path}/not/yet 999999999 "the test"')
    assert r.returncode == 1
    assert 'not enough disk space for the test' in r.stderr
    assert '999999999 MB needed' in r.stderr


def test_unknown_option():
    r = setup_env('--cude')
    assert r.returncode == 1 and "unknown option '--cude'" in r.stderr


# ------------------------------------------------------------- wheel cache
def _wheel(path, size=1000):
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('mmcv/__init__.py', 'x' * size)
        z.writestr('mmcv/_ext.so', os.urandom(size))
    return str(path)


WHL = 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'


def test_publish_is_verified_and_atomic(tmp_path):
    src = _wheel(tmp_path / WHL)
    cache = tmp_path / 'cache'
    r = bash(f'publish_wheel {src} {cache}')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(cache / WHL)
    assert sorted(os.listdir(cache)) == [WHL, WHL + '.sha256']
    r = bash(f'cached_wheel {cache}')
    assert r.returncode == 0 and r.stdout.strip() == str(cache / WHL)
    # a file that is not a wheel is never published
    bad = tmp_path / 'bad' / WHL
    bad.parent.mkdir()
    bad.write_bytes(b'PK\x03\x04 half a wheel')
    r = bash(f'publish_wheel {bad} {tmp_path / "cache2"}')
    assert r.returncode == 1 and 'not a valid zip file' in r.stderr
    assert os.listdir(tmp_path / 'cache2') == []


@pytest.mark.parametrize('damage', ['truncated', 'no_checksum', 'changed'])
def test_damaged_cached_wheel_is_not_trusted(tmp_path, damage):
    cache = tmp_path / 'cache'
    assert bash(f'publish_wheel {_wheel(tmp_path / WHL)} {cache}'
                ).returncode == 0
    whl = cache / WHL
    if damage == 'truncated':  # e.g. a disk that filled up
        data = whl.read_bytes()
        whl.write_bytes(data[:len(data) // 2])
    elif damage == 'no_checksum':  # e.g. a copy from an older cache
        os.remove(str(whl) + '.sha256')
    else:  # a valid zip, but not the published one
        _wheel(whl, size=10)
    r = bash(f'cached_wheel {cache}')
    assert r.returncode == 1 and r.stdout == ''
    assert 'failed validation' in r.stderr
    assert not whl.exists()  # removed, so it is rebuilt


def test_interrupted_publish_leaves_nothing_trusted(tmp_path):
    cache = tmp_path / 'cache'
    cache.mkdir()
    # what a publish killed before its final rename leaves behind
    _wheel(cache / f'.{WHL}.tmp.12345')
    (cache / f'.{WHL}.tmp.12345.sha256').write_text('x')
    r = bash(f'cached_wheel {cache}')
    assert r.returncode == 1
    r = bash(f'clean_stale {cache}; ls -A {cache}')
    assert r.returncode == 0 and r.stdout == ''


def test_cache_key_holds_everything_that_decides_the_wheel(tmp_path):
    def key(torch='2.14.1+cu130', py='cp311', ops='cpu', **env):
        r = bash(f'wheel_key {torch} {py} {ops}', env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    base = key()
    assert base.startswith('mmcv-2.1.0/torch-2.14.1+cu130-cp311-cpu-')
    others = [key(torch='2.14.1+cpu'), key(py='cp312'),
              key(CFLAGS='-O2'), key(CXX='clang++')]
    assert len({base, *others}) == 5
    r = bash('build_settings 2.14.1 cp311 cpu')
    for line in ('mmcv=2.1.0', 'torch=2.14.1', 'python=cp311', 'ops=cpu',
                 'cflags= -g0', 'std_sed=s/-std=c\\+\\+1[47]/-std=c++20/g'):
        assert line in r.stdout.splitlines(), r.stdout


# ---------------------------------------------------------------- progress
def _progress_module():
    spec = importlib.util.spec_from_file_location(
        'dmt_mm_progress', REPO / 'tools' / 'mmcv_build' / 'progress.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Lines as `pip wheel -v` prints them during mmcv 2.1.0's build (shortened).
SAMPLE = """\
  Compiling mmcv._ext only with CPU
  building 'mmcv._ext' extension
  [1/4] /repo/tools/mmcv_build/pch_cxx.sh -MMD -MF a.o.d -O3 -g0 -c a.cpp
  [pch_cxx] precompiling pytorch_cpp_helper.hpp once for all units
  /torch/include/c10/util/TypeSafeSignMath.h:65:28: warning: comparison
  [2/4] /repo/tools/mmcv_build/pch_cxx.sh -MMD -MF b.o.d -O3 -g0 -c b.cpp
  [3/4] /repo/tools/mmcv_build/pch_cxx.sh -MMD -MF c.o.d -O3 -g0 -c c.cpp
  /mmcv/ops/csrc/pytorch/d.cpp:3:1: error: 'foo' was not declared
  [4/4] /repo/tools/mmcv_build/pch_cxx.sh -MMD -MF d.o.d -O3 -g0 -c d.cpp
"""


def test_progress_estimate():
    mod = _progress_module()
    now = [100.0]
    p = mod.Progress('mmcv build', clock=lambda: now[0])
    assert not p.feed('  building extension\n')
    now[0] = 160.0  # the first unit also built the precompiled header
    assert p.feed('  [1/77] c++ -c a.cpp\n')
    assert p.line() == ('[setup_env] mmcv build: 1/77 units, 1m00s elapsed, '
                        'estimating the time left')
    now[0] = 170.0  # then 5 s per unit
    p.feed('  [3/77] c++ -c c.cpp\n')
    assert p.line() == ('[setup_env] mmcv build: 3/77 units, 1m10s elapsed, '
                        'about 6m10s left')
    now[0] = 540.0
    p.feed('  [77/77] c++ -c z.cpp\n')
    assert p.line().endswith('77/77 units, 7m20s elapsed, linking and '
                             'packing the wheel')


def test_progress_filter_output_and_log(tmp_path):
    log = tmp_path / 'build.log'
    r = subprocess.run(
        [sys.executable, str(REPO / 'tools/mmcv_build/progress.py'),
         '--log', str(log), '--every', '0'],
        input=SAMPLE, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == ''
    assert log.read_text() == SAMPLE  # every line, unchanged
    lines = r.stderr.splitlines()
    units = [ln for ln in lines if ln.startswith('[setup_env] mmcv build:')]
    assert [re.search(r'(\d+/4) units', u).group(1) for u in units] == \
        ['1/4', '2/4', '3/4', '4/4']
    assert units[-1].endswith('linking and packing the wheel')
    assert '  [pch_cxx] precompiling pytorch_cpp_helper.hpp once for all ' \
        'units' in lines
    assert "  /mmcv/ops/csrc/pytorch/d.cpp:3:1: error: 'foo' was not " \
        'declared' in lines
    assert not any('warning' in ln for ln in lines)  # warnings stay in log
    # not a terminal: at most one line per --every seconds, and the last
    r = subprocess.run(
        [sys.executable, str(REPO / 'tools/mmcv_build/progress.py'),
         '--log', str(tmp_path / 'b2.log')],
        input=SAMPLE, capture_output=True, text=True)
    units = [ln for ln in r.stderr.splitlines()
             if ln.startswith('[setup_env]')]
    assert len(units) == 2 and '1/4' in units[0] and '4/4' in units[1]


# ---------------------------------- docs/getting_started.md: manual install
def _manual_install_block() -> str:
    text = (REPO / 'docs' / 'getting_started.md').read_text()
    section = text[text.index('\n## Manual install'):]
    end = section.find('\n## ', 1)
    section = section[:end if end >= 0 else len(section)]
    return re.search(r'```bash\n(.*?)```', section, re.S).group(1)


# The -std= lines of mmcv 2.1.0's setup.py (cxx, nvcc and parrots paths).
MMCV_STD_LINES = """\
            'nvcc': [cuda_args, '-std=c++14'] if cuda_args else ['-std=c++14'],
            'cxx': ['-std=c++14'],
                extra_compile_args['cxx'] = ['-std=c++14']
                extra_compile_args['cxx'] = ['-std=c++17']
            extra_compile_args['cxx'] = ['-Wall', '-std=c++17']
                extra_compile_args['nvcc'] += ['-std=c++14']
                extra_compile_args['nvcc'] += ['-std=c++17']
"""


def test_manual_install_sed_is_the_scripts(tmp_path):
    block = _manual_install_block()
    m = re.search(r"sed -i -E '([^']+)' setup\.py", block)
    assert m, block
    lib_sed = bash('echo "$MMCV_STD_SED"').stdout.strip()
    assert m.group(1) == lib_sed
    setup_py = tmp_path / 'setup.py'
    setup_py.write_text(MMCV_STD_LINES)
    subprocess.run(['sed', '-i', '-E', m.group(1), str(setup_py)],
                   check=True)
    patched = setup_py.read_text()
    assert '-std=c++1' not in patched
    assert patched.count('-std=c++20') == MMCV_STD_LINES.count('-std=c++1')


def test_manual_install_pins_are_the_requirements():
    block = _manual_install_block()
    pins = dict(re.findall(r'^([\w-]+)==(\S+)$',
                           (REPO / 'requirements.txt').read_text(), re.M))
    for name in ('mmcv', 'mmengine', 'mmsegmentation', 'mmpretrain'):
        assert f'{name}=={pins[name]}' in block, name
    assert '"setuptools<70"' in block
    assert 'MMCV_WITH_OPS=1' in block and 'FORCE_CUDA=1' in block
    assert '--no-build-isolation' in block
    assert 'ftfy' in block and 'regex' in block
