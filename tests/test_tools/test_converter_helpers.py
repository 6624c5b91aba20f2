# Copyright (c) dmt_mm contributors. All rights reserved.
"""The shared helpers of tools/dataset_converters/: split_files.py,
converter_cli.py, arg_checks.py and class_balanced.py."""
import argparse
import os

import numpy as np
import pytest
from conftest import load_tool

split_files = load_tool('tools/dataset_converters/split_files.py',
                        'split_files_test')
converter_cli = load_tool('tools/dataset_converters/converter_cli.py',
                          'converter_cli_test')
arg_checks = load_tool('tools/dataset_converters/arg_checks.py',
                       'arg_checks_test')
class_balanced = load_tool('tools/dataset_converters/class_balanced.py',
                           'class_balanced_test')


def test_split_round_trip(tmp_path):
    path = str(tmp_path / 'new' / 'dir' / 'labeled.txt')
    split_files.write_split(path, ['b/2', 'a/1'])
    assert open(path).read() == 'b/2\na/1\n'
    split_files.write_split(path, (i for i in (3, 10)))  # replaces
    assert split_files.read_split(path) == ['3', '10']
    assert os.listdir(os.path.dirname(path)) == ['labeled.txt']
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'unlabeled.txt')
    split_files.write_split(path, ['old'])

    def fail(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(split_files.os, 'replace', fail)
    with pytest.raises(OSError, match='disk full'):
        split_files.write_split(path, ['new'])
    assert split_files.read_split(path) == ['old']
    assert os.listdir(tmp_path) == ['unlabeled.txt']  # no temporary left


def test_call_from_cli():

    def convert(n):
        if n < 0:
            raise ValueError(f'n must be >= 0, got {n}')
        return n + 1

    result, seconds = converter_cli.call_from_cli(convert, [], n=1)
    assert result == 2 and seconds >= 0
    with pytest.raises(ValueError, match='got -1'):  # from Python: raised
        converter_cli.call_from_cli(convert, ['x'], n=-1)
    with pytest.raises(SystemExit, match='^error: n must be >= 0, got -1$'):
        converter_cli.call_from_cli(convert, None, n=-1)  # from the shell
    with pytest.raises(ValueError):  # not one of `errors`: raised
        converter_cli.call_from_cli(convert, None, (TypeError, ), n=-1)


def test_add_subset_args():
    parser = argparse.ArgumentParser()
    converter_cli.add_subset_args(parser, num_labeled=(50, 100))
    args = parser.parse_args([])
    assert args.num_labeled == [50, 100] and args.seeds == [0, 1, 2, 3, 4]
    args = parser.parse_args(['--num-labeled', '20', '--seeds', '7', '8'])
    assert args.num_labeled == [20] and args.seeds == [7, 8]
    assert '(default: 50 100)' in parser.format_help()


def test_add_build_args():
    parser = argparse.ArgumentParser()
    converter_cli.add_build_args(parser, out_dir='data/x')
    args = parser.parse_args([])
    assert args.out_dir == 'data/x' and args.skip_if_exists is True
    for flag in ('--no-skip-if-exists', '--force'):
        args = parser.parse_args(['-o', '/tmp/y', flag])
        assert args.out_dir == '/tmp/y' and args.skip_if_exists is False


def test_build_from_cli(capsys):
    parser = argparse.ArgumentParser()
    converter_cli.add_build_args(parser, out_dir='out')

    def build(out_dir, skip_if_exists):
        if out_dir == 'bad':
            raise ValueError('out_dir=bad')
        return dict(out_dir=out_dir, skipped=skip_if_exists, n=3,
                    content_hash='sha256:' + '0123456789abcdef' * 4)

    def wrote(summary, seconds):
        return f'wrote {summary["n"]} to {summary["out_dir"]}'

    def run(argv, parse=None):
        return converter_cli.build_from_cli(
            build, parser.parse_args(argv if parse is None else parse), argv,
            'x in {out_dir} is up to date', wrote)

    assert run([])['skipped']
    assert capsys.readouterr().out == \
        'x in out is up to date (sha256:0123456789ab...)\n'
    assert not run(['--force'])['skipped']
    assert capsys.readouterr().out == 'wrote 3 to out\n'
    with pytest.raises(SystemExit, match='^error: out_dir=bad$'):
        run(None, ['-o', 'bad'])


def test_check_int_and_int_list():
    assert arg_checks.check_int('n', np.int64(3), 1) == 3
    with pytest.raises(TypeError, match=r"^n must be an int, but got True "
                       'of type bool$'):
        arg_checks.check_int('n', True, 0)
    with pytest.raises(TypeError, match="got '2' of type str"):
        arg_checks.check_int('n', '2', 0)
    with pytest.raises(ValueError, match='^n must be >= 1, but got 0$'):
        arg_checks.check_int('n', 0, 1)
    with pytest.raises(ValueError, match='^n must be positive, but got -2$'):
        arg_checks.check_int('n', -2, 1, 'positive')
    assert arg_checks.int_list('seeds', 4, 0, 'seed') == [4]
    assert arg_checks.int_list('seeds', (3, 1, 3), 0, 'seed') == [3, 1, 3]
    with pytest.raises(ValueError, match='^seeds must list at least one '
                       'seed$'):
        arg_checks.int_list('seeds', [], 0, 'seed', name='seed')
    with pytest.raises(ValueError, match='^seed must be >= 0, but got -1$'):
        arg_checks.int_list('seeds', [0, -1], 0, 'seed', name='seed')


def test_class_balanced_draws():
    labels = np.repeat(np.arange(4), [5, 6, 7, 8])
    rng = np.random.default_rng(0)
    kept, held = class_balanced.split_per_class(labels, lambda n: n // 2,
                                                rng)
    assert sorted(kept.tolist() + held.tolist()) == list(range(26))
    assert np.bincount(labels[held]).tolist() == [2, 3, 3, 4]
    assert kept.tolist() == sorted(kept.tolist())
    items = np.arange(100, 126)
    subsets = class_balanced.balanced_subsets(
        items, labels, (8, 4), np.random.default_rng(1), 4)
    assert set(subsets) == {4, 8}
    assert set(subsets[4]) < set(subsets[8]) <= set(items)  # nested
    for n, subset in subsets.items():
        assert np.bincount(labels[subset - 100]).tolist() == [n // 4] * 4
        assert subset.tolist() == sorted(subset.tolist())
