# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/dataset_converters/split_files.py and converter_cli.py."""
import argparse
import os

import pytest
from conftest import load_tool

split_files = load_tool('tools/dataset_converters/split_files.py',
                        'split_files_test')
converter_cli = load_tool('tools/dataset_converters/converter_cli.py',
                          'converter_cli_test')


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
