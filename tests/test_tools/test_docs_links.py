# Copyright (c) dmt_mm contributors. All rights reserved.
"""Every relative link of README.md and docs/**/*.md reaches something.

A link ``[text](path)`` or image ``![alt](path)`` outside code must name an
existing file or folder, relative to the markdown file that holds it; a
``#anchor`` (alone, or after a ``.md`` path) must be the slug of a heading
of that file, by GitHub's rules: the heading's text lowercased, every
character that is not a letter, digit, space, ``-`` or ``_`` dropped, each
space turned into ``-``, and a repeated slug numbered ``-1``, ``-2``, ...
Links with a scheme (``https:``, ``mailto:``) are not checked.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO / 'README.md'] + list((REPO / 'docs').rglob('*.md')))

_FENCE = re.compile(r'^(```|~~~)')
_LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?'
                   r'(?:\s+"[^"]*")?\s*\)')
_SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')


def _prose_lines(text: str):
    """The lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor of a heading's text (before de-duplication)."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # link text
    text = re.sub(r'<[^>]+>', '', text)  # inline HTML
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(text: str) -> set:
    """Every anchor the headings of ``text`` get."""
    seen, out = {}, set()
    for line in _prose_lines(text):
        m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f'{base}-{n}')
    return out


def links(text: str):
    """``(line number, target)`` of every link outside code; a link's text
    may run over a line break."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            lines.append('')
        else:
            lines.append('' if fenced else line)
    prose = '\n'.join(lines)
    # inline code spans go, their line breaks stay (for the line numbers)
    prose = re.sub(r'(`+)(?:(?!\1)[^\n]|\n(?!\n))+?\1',
                   lambda m: '\n' * m.group(0).count('\n'), prose)
    for m in _LINK.finditer(prose):
        yield prose.count('\n', 0, m.start()) + 1, m.group(1)


def broken_links(path: Path) -> list:
    """``'file:line: target (why)'`` for every link of ``path`` that does
    not reach an existing file, folder or heading."""
    text = path.read_text()
    bad = []
    for no, target in links(text):
        if not target or _SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition('#')
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f'{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{no}: {target}'
        if not dest.exists():
            bad.append(f'{where} (no such file)')
            continue
        if anchor:
            if dest.is_dir() or dest.suffix != '.md':
                bad.append(f'{where} (an anchor into a non-markdown target)')
            elif anchor not in anchors(dest.read_text()):
                bad.append(f'{where} (no such heading in {dest.name})')
    return bad


def test_the_docs_are_found():
    names = {p.relative_to(REPO).as_posix() for p in DOCS}
    assert {'README.md', 'docs/benchmarks/README.md',
            'docs/benchmarks/PROTOCOL.md', 'docs/getting_started.md',
            'docs/own_data.md', 'docs/architecture.md'} <= names


@pytest.mark.parametrize('path', DOCS,
                         ids=[p.relative_to(REPO).as_posix() for p in DOCS])
def test_relative_links_resolve(path):
    assert not broken_links(path), '\n'.join(broken_links(path))


def test_readme_links_into_docs():
    """The README points at every file of docs/ (docs/images/ aside)."""
    targets = {(REPO / t.partition('#')[0]).resolve()
               for _, t in links((REPO / 'README.md').read_text())
               if t and not _SCHEME.match(t) and not t.startswith('#')}
    missing = [p.relative_to(REPO).as_posix() for p in DOCS
               if p != REPO / 'README.md' and p.resolve() not in targets]
    assert not missing, f'README.md links none of {missing}'


@pytest.mark.parametrize('heading, expect', [
    ('Does it work? DMT against its alternatives at equal compute',
     'does-it-work-dmt-against-its-alternatives-at-equal-compute'),
    ('Manual install (your own CUDA / torch, 2.1 or newer)',
     'manual-install-your-own-cuda--torch-21-or-newer'),
    ("The paper's settings (PASCAL VOC 2012, Cityscapes)",
     'the-papers-settings-pascal-voc-2012-cityscapes'),
    ('`train_cfg` keys', 'train_cfg-keys'),
    ('6. CIFAR-10 (classification)', '6-cifar-10-classification'),
    ('Segmentation (`seg-scratch`)', 'segmentation-seg-scratch'),
    ('dmt_mm — Dynamic Mutual Training', 'dmt_mm--dynamic-mutual-training'),
    ('See [the docs](docs/x.md)', 'see-the-docs'),
])
def test_slug_follows_github(heading, expect):
    assert slug(heading) == expect


def test_checker_finds_what_is_broken(tmp_path):
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'b.md').write_text('# B title\n\n## Same\n\n## Same\n')
    (tmp_path / 'img.png').write_bytes(b'')
    (tmp_path / 'a.md').write_text(
        '# A\n\n## Own heading\n\n'
        '[ok](sub/b.md) [ok](sub/b.md#b-title) [ok](sub/b.md#same-1) '
        '[ok](#own-heading) ![ok](img.png) [ok](https://x.org/#nope) '
        '[ok](sub/) `[code](nowhere.md)` [ok over a\nline break](sub/b.md)\n\n'
        '```\n[in a block](nowhere.md)\n# not a heading\n```\n\n'
        '[bad](nowhere.md) [bad](sub/b.md#same-2) [bad](#not-a-heading) '
        '[bad](img.png#x) [bad over\na line break](gone.md)\n')
    bad = broken_links(tmp_path / 'a.md')
    assert [b.split(': ', 1)[1] for b in bad] == [
        'nowhere.md (no such file)',
        'sub/b.md#same-2 (no such heading in b.md)',
        '#not-a-heading (no such heading in a.md)',
        'img.png#x (an anchor into a non-markdown target)',
        'gone.md (no such file)',
    ], bad
    assert bad[-1].split(': ')[0].endswith('a.md:13'), bad
