# Copyright (c) dmt_mm contributors. All rights reserved.
"""The timing half of ``benchmark_dmt.py``: interleaved trials, ratio rows
and the table.

Two (or more) variants of one piece of work are timed in the same process,
interleaved (the order alternates every trial), so machine noise hits them
alike. A row is the ratio of two variants: the median of the per-trial
ratios, their spread (min..max) and the ratio of the fastest trials (the
least disturbed by other processes).
"""
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

Variants = Dict[str, Callable[[], None]]


def sync(device: str) -> None:
    """Wait for the queued CUDA work (no-op on the CPU)."""
    if device == 'cuda':
        torch.cuda.synchronize()


def interleaved(variants: Variants, trials: int,
                device: str) -> Dict[str, List[float]]:
    """Seconds of each variant per trial; the order alternates.

    ``time.perf_counter`` (monotonic, sub-microsecond) rather than
    mmengine's ``Timer``, which reads ``time.time`` (a clock NTP may step).
    """
    names = list(variants)
    times = {n: [] for n in names}
    for t in range(trials):
        for n in (names if t % 2 == 0 else names[::-1]):
            sync(device)
            start = time.perf_counter()
            variants[n]()
            sync(device)
            times[n].append(time.perf_counter() - start)
    return times


def warm_up(variants: Variants, device: str) -> Dict[str, Optional[float]]:
    """Run each variant once; return its peak device memory (MiB)."""
    peaks = {}
    for name, fn in variants.items():
        if device == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        fn()
        sync(device)
        peaks[name] = (torch.cuda.max_memory_allocated() / 2**20
                       if device == 'cuda' else None)
    return peaks


def profile(variants: Variants, device: str) -> None:
    """Print a ``torch.profiler`` table of one run of each variant."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                     if device == 'cuda' else [])
    for name, fn in variants.items():
        with torch_profile(activities=acts) as prof:
            fn()
            sync(device)
        key = 'self_cuda_time_total' if device == 'cuda' else \
            'self_cpu_time_total'
        print(f'\n--- torch.profiler: {name} ---')
        print(prof.key_averages().table(sort_by=key, row_limit=18))


def measure(variants: Variants, trials: int, device: str,
            with_profile: bool = False
            ) -> Tuple[Dict[str, List[float]], Dict[str, Optional[float]]]:
    """Warm up, optionally profile, then time ``trials`` interleaved trials.

    Returns:
        tuple[dict, dict]: The seconds per trial of each variant
        (:func:`interleaved`) and each variant's peak device memory in MiB
        (:func:`warm_up`, None on the CPU).
    """
    peaks = warm_up(variants, device)
    if with_profile:
        profile(variants, device)
    return interleaved(variants, trials, device), peaks


def ratio_row(name: str, measure: str, times: Dict[str, List[float]],
              num: str, den: str, target: Optional[float],
              detail: str) -> dict:
    """A table row: variant ``num`` over variant ``den``, trial by trial."""
    ratios = [a / b for a, b in zip(times[num], times[den])]
    return dict(row=name, measure=measure, median=statistics.median(ratios),
                low=min(ratios), high=max(ratios), target=target,
                best=min(times[num]) / min(times[den]), detail=detail,
                ratios=ratios)


def print_table(rows: List[dict]) -> None:
    """Print the rows (a row with ``error`` shows it instead of numbers)."""
    from prettytable import PrettyTable
    table = PrettyTable(['row', 'measure', 'median', 'spread (min..max)',
                         'fastest', 'target', 'ok', 'detail'])
    table.align = 'l'
    for r in rows:
        if 'error' in r:
            table.add_row([r['row'], r['measure'], '-', '-', '-', '-',
                           'ERROR', r['error']])
            continue
        target = r['target']
        ok = '-' if target is None else ('yes' if r['median'] <= target +
                                         1e-9 else 'NO')
        table.add_row([
            r['row'], r['measure'], f"{r['median']:.3f}",
            f"{r['low']:.3f}..{r['high']:.3f}",
            f"{r['best']:.3f}" if 'best' in r else '-',
            '-' if target is None else f'<= {target:g}', ok, r['detail']
        ])
    print(table)
