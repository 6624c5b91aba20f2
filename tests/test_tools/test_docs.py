# Copyright (c) dmt_mm contributors. All rights reserved.
"""Keep docs/architecture.md and the README's "What is in the box" honest.

Every file path they name exists, every registered name is registered by
dmt_mm (and every component dmt_mm registers is in both), the
``train_cfg`` keys and defaults are ``DMTTrainLoop.__init__``'s, the
checkpoint keys are what ``DMTTrainLoop.state_dict`` writes, and the hook
points are the ones the loop calls.
"""
import ast
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
ARCH = REPO / 'docs' / 'architecture.md'
README = REPO / 'README.md'

# A path-like token: a/b.py, tools/x/y.sh, docs/architecture.md, dmt_mm/x/
_PART = r'(?:[\w.-]|\{[\w.,-]*\})+'
_PATH = re.compile(rf'(?<![\w<./{{}}-])'
                   rf'((?:{_PART}/)+(?:{_PART}\.(?:py|md|sh))?)'
                   r'(?![\w<>*{-])')
_TICKS = re.compile(r'`([^`]+)`')
#: Top-level folders a named folder must start with.
_ROOTS = ('dmt_mm/', 'tools/', 'configs/', 'tests/', 'docs/')


def _section(text: str, title: str) -> str:
    """The text of the ``## title`` section (up to the next ``## ``)."""
    start = text.index(f'\n## {title}\n')
    end = text.find('\n## ', start + 1)
    return text[start:end if end >= 0 else len(text)]


def _readme_box() -> str:
    return _section(README.read_text(), 'What is in the box')


def _tables(text: str):
    """Markdown tables of ``text`` as lists of rows (lists of cells)."""
    tables, rows = [], []
    for line in text.splitlines() + ['']:
        if line.startswith('|'):
            cells = re.split(r'(?<!\\)\|', line.strip()[1:-1])
            if not all(set(c.strip()) <= set('-') for c in cells):
                rows.append([c.strip() for c in cells])
        elif rows:
            tables.append(rows)
            rows = []
    return tables


def _column(text: str, header_word: str):
    """Cells of every table column whose header contains ``header_word``."""
    out = []
    for rows in _tables(text):
        for i, head in enumerate(rows[0]):
            if header_word in head:
                out += [r[i] for r in rows[1:]]
    return out


def _expand(path: str):
    m = re.search(r'\{([^}]*)\}', path)
    if not m:
        return [path]
    return [
        p for alt in m.group(1).split(',')
        for p in _expand(path[:m.start()] + alt + path[m.end():])
    ]


def _paths(text: str):
    found = set()
    for token in _PATH.findall(text):
        if token.endswith('/') and not token.startswith(_ROOTS):
            continue  # e.g. the scalar prefix dmt/, not a folder
        found.update(_expand(token))
    return sorted(found)


def _dmt_registered():
    """``{name: registry label}`` of every class dmt_mm registers."""
    import dmt_mm  # noqa: F401
    import mmengine.registry as mme
    import mmpretrain.registry as mmpre
    import mmseg.registry as mmseg
    registries = []
    for pkg in (mme, mmseg, mmpre):
        for attr in ('MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'LOOPS',
                     'DATA_SAMPLERS'):
            reg = getattr(pkg, attr, None)
            if reg is not None:
                registries.append((f'{pkg.__name__}.{attr}', reg))
    out = {}
    for label, reg in registries:
        for name, obj in reg.module_dict.items():
            if getattr(obj, '__module__', '').startswith('dmt_mm'):
                out[name] = label
    return out


def _loop_params():
    from dmt_mm.engine import DMTTrainLoop
    params = inspect.signature(DMTTrainLoop.__init__).parameters
    return {
        k: p.default
        for k, p in params.items() if k not in ('self', 'runner', 'dataloader')
    }


@pytest.mark.parametrize('doc', ['architecture', 'readme'])
def test_named_paths_exist(doc):
    text = ARCH.read_text() if doc == 'architecture' else _readme_box()
    paths = _paths(text)
    assert len(paths) > (10 if doc == 'architecture' else 1), paths
    missing = [
        p for p in paths
        if not (REPO / p).exists() and not (REPO / 'dmt_mm' / p).exists()
    ]
    assert not missing, f'{doc} names paths that do not exist: {missing}'


def test_path_parser_finds_diagram_paths():
    """The check above reads paths inside the diagram (relative to dmt_mm/)
    and skips placeholders like <work_dir>/phase<k>.pth."""
    text = ('x `dmt_mm/a/b.py` engine/labelling.py <work_dir>/p.pth '
            '`dmt_mm/engine/procedures/{base,chain}.py` '
            '[docs](docs/architecture.md) for_A.<random>.tmp/ dmt/ '
            '`dmt_mm/engine/`')
    assert _paths(text) == [
        'dmt_mm/a/b.py', 'dmt_mm/engine/', 'dmt_mm/engine/procedures/base.py',
        'dmt_mm/engine/procedures/chain.py', 'docs/architecture.md',
        'engine/labelling.py'
    ]


@pytest.mark.parametrize('doc', ['architecture', 'readme'])
def test_registered_names_are_registered(doc):
    text = ARCH.read_text() if doc == 'architecture' else _readme_box()
    registered = _dmt_registered()
    params = _loop_params()
    # architecture.md: its table's "registered" column; the README: its
    # section's prose
    cells = _column(text, 'registered') if doc == 'architecture' else [text]
    assert cells, f'{doc} has no "registered" table column'
    names, keys = set(), set()
    for cell in cells:
        for token in _TICKS.findall(cell):
            if token.startswith('train_cfg.'):
                keys.add(token.split('.', 1)[1])
            elif re.fullmatch(r'[A-Z]\w*', token):  # class names
                names.add(token)
    assert names
    unknown = sorted(names - set(registered))
    assert not unknown, (f'{doc} lists {unknown} as registered names, but '
                         'dmt_mm registers no such class')
    assert not keys - set(params), f'unknown train_cfg keys {keys}'
    absent = sorted(set(registered) - names)
    assert not absent, f'{doc} misses registered components {absent}'


def test_train_cfg_keys_and_defaults():
    rows = _tables(_section(ARCH.read_text(), '`train_cfg` keys'))[0]
    assert rows[0][:2] == ['key', 'default']
    documented = {}
    for row in rows[1:]:
        key = _TICKS.findall(row[0])[0]
        documented[key] = ast.literal_eval(_TICKS.findall(row[1])[0])
    params = _loop_params()
    assert sorted(documented) == sorted(params)
    wrong = {
        k: (v, params[k])
        for k, v in documented.items() if v != params[k]
    }
    assert not wrong, f'documented vs actual defaults: {wrong}'


def test_monitor_defaults():
    from dmt_mm.engine.monitor import DMTMonitor
    rows = _tables(_section(ARCH.read_text(), '`train_cfg` keys'))[0]
    cell = [r for r in rows if r[0] == '`monitor`'][0][2]
    params = inspect.signature(DMTMonitor.__init__).parameters
    documented = {}
    for token in _TICKS.findall(cell):
        if '=' not in token:
            continue
        key, value = token.split('=', 1)
        documented[key] = ast.literal_eval(value)
    assert documented == {
        k: p.default
        for k, p in params.items() if k != 'self'
    }


def _flatten(state, prefix):
    if not isinstance(state, dict):
        return {prefix}
    return {
        k for key, v in state.items() for k in _flatten(v, f'{prefix}.{key}')
    }


@pytest.mark.parametrize('procedure', ['mutual', 'chain'])
def test_checkpoint_keys(procedure):
    from dmt_mm.engine import DMTReport, DMTTrainLoop
    from dmt_mm.engine.runner.dmt_train_loop import PROCEDURES
    from dmt_mm.engine.runner.selection import StageSelection
    fake_loop = SimpleNamespace(runner=None)
    loop = SimpleNamespace(
        procedure=PROCEDURES[procedure](fake_loop),
        finished_stage=-1,
        report=DMTReport('mIoU', procedure, 'partner', ['a', 'b']),
        selection=StageSelection('last', 'mIoU'))
    actual = _flatten(DMTTrainLoop.state_dict(loop), 'dmt')
    rows = _tables(_section(ARCH.read_text(), 'What a checkpoint holds'))[0]
    documented = {_TICKS.findall(r[0])[0] for r in rows[1:]}
    assert documented == actual


def test_hook_points():
    from dmt_mm.engine import MutualTrainingHook, Stage
    from dmt_mm.visualization import DMTVisualizationHook
    text = ARCH.read_text()
    loop_src = (REPO / 'dmt_mm/engine/runner/dmt_train_loop.py').read_text()
    called = set(re.findall(r"call_hook\('(\w+_stage)'", loop_src))
    section = _section(text, 'Hook points for extensions')
    documented = set(re.findall(r'`(\w+_train_stage)\(runner, stage\)`',
                                section))
    assert documented == called == {'before_train_stage', 'after_train_stage'}
    assert 'before_train_stage' in vars(DMTVisualizationHook)
    assert 'after_train_stage' in vars(MutualTrainingHook)
    attrs = re.search(r'`stage` is a `Stage` \(([^)]*)\)', section)
    assert attrs, 'the Stage attributes are not listed'
    for name in _TICKS.findall(attrs.group(1)):
        assert hasattr(Stage, name) or name in Stage.__dataclass_fields__, name


def test_readme_links_architecture():
    assert '(docs/architecture.md#one-concept-one-file)' in _readme_box()
    assert '\n## One concept, one file\n' in ARCH.read_text()
