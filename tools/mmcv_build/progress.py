#!/usr/bin/env python3
"""Progress of a torch extension build, from the build's own output.

Reads the output of ``pip wheel -v`` on stdin (torch's ``BuildExtension``
runs ninja, which prints ``[n/N] <command>`` when a translation unit is
done), writes every line to ``--log`` and prints short progress lines:

    [setup_env] mmcv build: 12/77 units, 1m05s elapsed, about 3m20s left

On a terminal one line is rewritten in place; otherwise (CI, logs) a line is
printed every ``--every`` seconds and when the last unit is done. Compiler
errors and ninja failures are passed through at once. The estimate uses the
time per unit since the first unit finished (the first one also builds the
precompiled header of tools/mmcv_build/pch_cxx.sh). Standard library only:
it runs before the environment exists.
"""
import argparse
import re
import sys
import time

UNIT = re.compile(r'^\s*\[(\d+)/(\d+)\]\s')
SHOW = re.compile(r'error|FAILED|Traceback|\[pch_cxx\]|^\s*Compiling ',
                  re.IGNORECASE)


def fmt(seconds: float) -> str:
    """``75`` -> ``'1m15s'``."""
    s = int(round(seconds))
    return f'{s // 60}m{s % 60:02d}s' if s >= 60 else f'{s}s'


class Progress:
    """Counts finished units and formats the progress line.

    Args:
        what (str): Name in the progress line, e.g. ``'mmcv build'``.
        clock (callable): Seconds, monotonic. Defaults to time.monotonic.
    """

    def __init__(self, what: str, clock=time.monotonic):
        self.what = what
        self.clock = clock
        self.start = clock()
        self.first_done = None
        self.done = 0
        self.total = None

    def feed(self, line: str) -> bool:
        """Parse one line; True when it finished a unit."""
        m = UNIT.match(line)
        if not m:
            return False
        self.done, self.total = int(m.group(1)), int(m.group(2))
        if self.first_done is None:
            self.first_done = (self.clock(), self.done)
        return True

    def line(self) -> str:
        now = self.clock()
        text = (f'[setup_env] {self.what}: {self.done}/{self.total} units, '
                f'{fmt(now - self.start)} elapsed')
        if self.done >= self.total:
            return text + ', linking and packing the wheel'
        t0, n0 = self.first_done
        if self.done > n0:
            per_unit = (now - t0) / (self.done - n0)
            text += f', about {fmt(per_unit * (self.total - self.done))} left'
        else:
            text += ', estimating the time left'
        return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--log', required=True, help='file for every line')
    parser.add_argument('--what', default='mmcv build')
    parser.add_argument('--every', type=float, default=15.0,
                        help='seconds between progress lines (not a tty)')
    args = parser.parse_args(argv)
    out = sys.stderr
    tty = out.isatty()
    progress = Progress(args.what)
    last_print = None

    def show(text: str) -> None:
        # A closed terminal must not stop the build: keep logging.
        try:
            out.write(text)
            out.flush()
        except (BrokenPipeError, OSError):
            pass

    with open(args.log, 'a', encoding='utf-8', errors='replace') as log:
        for line in sys.stdin:
            log.write(line)
            log.flush()
            if progress.feed(line):
                now = progress.clock()
                final = progress.done >= progress.total
                if tty:
                    end = '\n' if final else ''
                    show('\r\033[K' + progress.line() + end)
                elif (final or last_print is None
                      or now - last_print >= args.every):
                    show(progress.line() + '\n')
                    last_print = now
            elif SHOW.search(line):
                clear = '\r\033[K' if tty and progress.total else ''
                show(clear + '  ' + line.strip()[:300] + '\n')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: the build script reports it
        sys.exit(130)
