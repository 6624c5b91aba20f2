#!/usr/bin/env python
# Copyright (c) dmt_mm contributors. All rights reserved.
"""List, then download, what a GPU machine without network needs for dmt_mm.

The lent GPU machine (tools/device/README.md) has Python 3.12 with torch,
opencv, scipy, matplotlib, rich, regex, ... but no mmengine, mmcv,
mmsegmentation, mmpretrain, addict, yapf, termcolor, ftfy or prettytable, and
it cannot reach a package registry. This script, run where pip reaches the
registry with the project's environment (``.venv/bin/python``):

1. generates the list: the dependency closure of the project's requirements,
   read from the metadata of the packages installed here (so the versions
   are the ones the test suite ran with) for a Python 3.12 Linux target,
   minus what the GPU machine already has (``PRESENT`` below);
2. downloads those wheels with ``pip download --no-deps --only-binary=:all:
   --python-version 3.12 ...`` and the mmcv 2.1.0 source archive into
   ``.whl/`` (ignored by git through ``.git/info/exclude``; never commit
   it), and writes the list to ``.whl/requirements-device.txt``.

``tools/device/install.sh`` installs them there. ``--list`` only prints the
list (no network).
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
from importlib import metadata
from typing import Dict, Iterable, List, Set

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MMCV = 'mmcv==2.1.0'  # built from source there (tools/device/install.sh)

#: Python packages of the GPU machine's image ('cuda'), as read on a machine
#: running it on 2026-11-17 (the device tool's KINDS.md).
PRESENT = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc
anyio attrs botorch build certifi charset-normalizer chex click cloudpickle
cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils
execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec
gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt
jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader
lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath
msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx
ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti
nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy
portalocker prometheus-client propcache protobuf psutil pyarrow pybind11
py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
safetensors scikit-build-core scikit-image scikit-learn scipy seaborn
sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
torchvision tqdm transformers treescope triton typer typing-extensions
typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray
xxhash yarl zipp
""".split()
#: Satisfied there under another name.
ALIASES = {'opencv-python': 'opencv-python-headless'}
#: Carried although present there, in the versions that built mmcv here:
#: mmcv's build and mmengine's ``mmseg::`` config paths import
#: ``pkg_resources``, which recent setuptools no longer ship
#: (tools/setup_env.sh pins setuptools<70), and ``wheel`` provides
#: ``bdist_wheel`` to that setuptools.
FORCE = {'setuptools', 'wheel'}
#: Python 3.12 on Linux x86-64, for environment markers.
TARGET_ENV = dict(
    python_version='3.12', python_full_version='3.12.3', os_name='posix',
    sys_platform='linux', platform_system='Linux', platform_machine='x86_64',
    platform_python_implementation='CPython', implementation_name='cpython',
    extra='')
PLATFORMS = ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64',
             'manylinux_2_17_x86_64', 'manylinux2014_x86_64',
             'manylinux1_x86_64']


def canonical(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def requirement_roots(path: str) -> List[str]:
    """Package names of a requirements file (pins and comments dropped)."""
    names = []
    for line in open(path):
        line = line.split('#')[0].strip()
        if line:
            names.append(re.split(r'[<>=!~;\[ ]', line, maxsplit=1)[0])
    return names


def closure(roots: Iterable[str], present: Set[str]) -> Dict[str, str]:
    """``{name: installed version}`` of the roots and their dependencies
    for the target, without the packages in ``present``."""
    from packaging.requirements import Requirement
    todo = [canonical(r) for r in roots]
    found: Dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in found or (name in present and name not in FORCE):
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f'error: {name} is needed but not installed in '
                             f'{sys.prefix}; run this with the project\'s '
                             'environment (.venv/bin/python)')
        found[name] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate(TARGET_ENV):
                todo.append(canonical(req.name))
    return found


def device_wheels() -> Dict[str, str]:
    present = {canonical(p) for p in PRESENT}
    present |= {canonical(k) for k, v in ALIASES.items()
                if canonical(v) in present}
    roots = requirement_roots(osp.join(REPO, 'requirements.txt'))
    roots += sorted(FORCE)
    wheels = closure(roots, present | {'mmcv'})
    # mmcv's own run-time needs (it is built there, without pip resolving)
    wheels.update(closure(['addict', 'yapf', 'mmengine'], present))
    return dict(sorted(wheels.items()))


def exclude_from_git(folder: str) -> None:
    """Add ``/folder/`` to the repository's ``.git/info/exclude``."""
    try:
        path = subprocess.run(
            ['git', '-C', REPO, 'rev-parse', '--git-path', 'info/exclude'],
            check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return
    path = path if osp.isabs(path) else osp.join(REPO, path)
    line = f'/{folder}/'
    lines = open(path).read().split('\n') if osp.isfile(path) else []
    if line not in lines:
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'a') as f:
            f.write(line + '\n')


def download(wheels: Dict[str, str], out: str) -> None:
    pip = [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
           '-d', out]
    binary = pip + ['--only-binary=:all:', '--python-version', '3.12',
                    '--implementation', 'cp']
    for plat in PLATFORMS:
        binary += ['--platform', plat]
    subprocess.run(binary + [f'{n}=={v}' for n, v in wheels.items()],
                   check=True)
    subprocess.run(pip + ['--no-binary', ':all:', MMCV], check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO, '.whl'),
                        help='download folder (default: .whl at the root)')
    parser.add_argument('--list', action='store_true',
                        help='print the list only (no download)')
    args = parser.parse_args(argv)
    wheels = device_wheels()
    lines = [f'{n}=={v}' for n, v in wheels.items()]
    if args.list:
        print('\n'.join(lines + [f'{MMCV}  # source archive, built there']))
        return 0
    os.makedirs(args.out, exist_ok=True)
    if osp.dirname(osp.abspath(args.out)) == REPO:
        exclude_from_git(osp.basename(osp.abspath(args.out)))
    download(wheels, args.out)
    with open(osp.join(args.out, 'requirements-device.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    size = sum(osp.getsize(osp.join(args.out, f))
               for f in os.listdir(args.out)) / 2**20
    print(f'{len(wheels)} wheels and the {MMCV} source archive in '
          f'{args.out} ({size:.1f} MiB); carry it with run(carry=[".whl"])')
    return 0


if __name__ == '__main__':
    sys.exit(main())
