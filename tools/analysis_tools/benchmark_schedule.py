# Copyright (c) dmt_mm contributors. All rights reserved.
"""Which runs ``benchmark_ssl.py`` makes, in which order, on which cores and
on what machine.

- :func:`plan`: the runs to do, the phase-0 provider of each (the methods
  that share phase 0 train it once per seed, ``benchmark_tasks.py``), in
  an order that puts every provider before its consumers;
- :func:`slots`: ``--jobs N`` runs at once, each pinned to cores of its own
  (``taskset``), never N runs that each use every core;
- :func:`run_all`: the runs in that order, up to one per slot, a consumer
  only once its provider's phase-0 checkpoints are complete; each one
  started by :func:`launch` (its attempt recorded in its work dir, its
  output appended to ``benchmark_train.log`` there) and ended by
  :func:`end`;
- :func:`machine`: what decides a run's numerics and speed (CPU model and
  capability, cores, torch, GPU, threads), recorded with every attempt.

Run as a script, it prints this machine (:func:`probe` runs it so: torch
is imported there, not in the benchmark process, which thus holds no CUDA
context while the trainings run).
"""
import datetime
import functools
import json
import os
import os.path as osp
import platform
import shutil
import socket
import subprocess
import sys
import time

from benchmark_runs import RECORD, git_commit, read_record, write

#: seconds between two looks at the running trainings
POLL_S = 0.5


def plan(spec: dict, methods, seeds, shared: bool, state) -> list:
    """The runs to do, in order: seeds outer, ``methods`` in their order,
    with each seed's phase-0 provider moved before the first of its
    consumers and added when a consumer is to run and the provider is
    neither in ``methods`` nor complete on disk.

    Args:
        spec (dict): the task (``benchmark_tasks.TASKS[task]``).
        methods (list[str]): the methods asked for.
        seeds (list[int]): the seeds asked for.
        shared (bool): share phase 0 (False: every run trains its own).
        state (callable): ``state(method, seed)``: ``'complete'``,
            ``'interrupted'`` or None (nothing on disk).

    Returns:
        list[dict]: ``method``, ``seed``, ``provider`` (the method whose
        phase 0 the run loads, None: it trains its own), ``interrupted``
        and ``added`` (run only as a provider, not asked for).
    """
    share = spec.get('phase0') if shared else None
    runs = []
    for seed in seeds:
        states = {m: state(m, seed) for m in methods}
        order = [m for m in methods if states[m] != 'complete']
        consumers = [m for m in order
                     if share and m in share['consumers']]
        provider = share['provider'] if consumers else None
        if provider and provider not in states:
            states[provider] = state(provider, seed)
        if provider and states[provider] != 'complete' and (
                provider not in order
                or order.index(provider) > order.index(consumers[0])):
            if provider in order:
                order.remove(provider)
            order.insert(order.index(consumers[0]), provider)
        runs += [dict(method=m, seed=seed,
                      provider=provider if m in consumers else None,
                      interrupted=states[m] == 'interrupted',
                      added=m not in methods) for m in order]
    return runs


def usable_cores() -> list:
    """The CPU cores this process may run on."""
    if hasattr(os, 'sched_getaffinity'):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def slots(jobs: int) -> list:
    """The cores of each of ``jobs`` runs at once: an equal share of the
    usable cores each, or None (no pinning) for one run at a time.

    Raises:
        ValueError: more runs than usable cores (N runs that share cores
            each run on a fraction of them, and two trainings that each
            use every core slow each other down), or no ``taskset``.
    """
    if jobs == 1:
        return [None]
    cores = usable_cores()
    if jobs < 1:
        raise ValueError(f'--jobs {jobs}: at least one run at a time')
    if jobs > len(cores):
        raise ValueError(
            f'--jobs {jobs}: this process may use {len(cores)} core(s) '
            f'{cores}, and each run at once needs one of its own')
    if not shutil.which('taskset'):
        raise ValueError(f'--jobs {jobs} pins each run to its cores with '
                         'taskset (util-linux), which is not on PATH')
    per = len(cores) // jobs
    return [tuple(cores[i * per:(i + 1) * per]) for i in range(jobs)]


def pinning(cores) -> list:
    """The argv prefix that runs a command on ``cores`` (None: none)."""
    return ['taskset', '-c', ','.join(map(str, cores))] if cores else []


def thread_env(cores) -> dict:
    """The thread settings of a run pinned to ``cores`` (None: the
    environment's, as before)."""
    if not cores:
        return {}
    return {k: str(len(cores)) for k in ('OMP_NUM_THREADS',
                                         'MKL_NUM_THREADS')}


def loader_workers(cores: int) -> int:
    """Data-loading workers of a run on ``cores`` cores: none on one core
    (a worker would only take turns with the training on it)."""
    return 0 if cores == 1 else cores


def launch(work_dir: str, argv, env: dict, line: str, cores,
           resumed: bool, **fields) -> dict:
    """Start one training subprocess and record the attempt in the work
    dir's ``benchmark_run.json``: its command, environment additions,
    machine, commit, ``fields`` and, once :func:`end` has it, its exit
    status and wall time. Returns the handle :func:`end` takes."""
    os.makedirs(work_dir, exist_ok=True)
    record = read_record(work_dir)
    attempt = dict(command=line, env=env, resumed=resumed,
                   machine=machine(cores, env), **git_commit(), **fields,
                   rc=None, wall_time_s=None,
                   start=datetime.datetime.now().astimezone().isoformat(
                       timespec='seconds'))
    record['attempts'].append(attempt)
    write(osp.join(work_dir, RECORD), json.dumps(record, indent=1).encode())
    log = open(osp.join(work_dir, 'benchmark_train.log'), 'a')
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log,
                            stderr=subprocess.STDOUT)
    return dict(proc=proc, log=log, record=record, attempt=attempt,
                work_dir=work_dir, line=line, tic=time.monotonic())


def end(handle: dict, rc) -> None:
    """Record how an attempt ended (``rc``: exit status, or
    ``'interrupted'``); ``RuntimeError`` with the log's end when it
    failed."""
    attempt, log = handle['attempt'], handle['log']
    attempt['rc'] = rc
    attempt['wall_time_s'] = round(time.monotonic() - handle['tic'], 3)
    log.close()
    write(osp.join(handle['work_dir'], RECORD),
          json.dumps(handle['record'], indent=1).encode())
    if rc not in (0, 'interrupted'):
        with open(log.name) as f:
            tail = ''.join(f.readlines()[-20:])
        raise RuntimeError(f'{handle["line"]}\nexited with {rc}; the end of '
                           f'{log.name}:\n{tail}')


def run_all(runs, slots_, start, finish, ready) -> list:
    """Run ``runs`` in their order, up to one per slot; a run waits while
    ``ready`` says so, later ready runs go first meanwhile.

    Args:
        runs (list[dict]): :func:`plan`'s runs.
        slots_ (list): :func:`slots`'s answer.
        start (callable): ``start(run, cores)`` -> :func:`launch`'s handle.
        finish (callable): ``finish(run, handle, rc)`` (rc
            ``'interrupted'`` on Ctrl-C); raises ``RuntimeError`` when the
            run failed.
        ready (callable): ``ready(run, waiting)``: whether the run can
            start now, ``waiting`` the (method, seed) of the runs still to
            end; raises ``RuntimeError`` when it never will.

    Returns:
        list[str]: the failures. After one, no run starts; the running ones
        end first (their results stay valid).
    """
    pending, running, errors = list(runs), {}, []

    def fail(error):
        print(error, file=sys.stderr, flush=True)
        errors.append(str(error))
    try:
        while running or (pending and not errors):
            for slot, (run, handle) in list(running.items()):
                rc = handle['proc'].poll()
                if rc is not None:
                    del running[slot]
                    try:
                        finish(run, handle, rc)
                    except RuntimeError as e:
                        fail(e)
            free = [i for i in range(len(slots_)) if i not in running]
            while free and pending and not errors:
                waiting = {(r['method'], r['seed']) for r in pending} | {
                    (r['method'], r['seed']) for r, _ in running.values()}
                try:
                    run = next((r for r in pending if ready(r, waiting)),
                               None)
                except RuntimeError as e:
                    fail(e)
                    break
                if run is None:
                    break
                pending.remove(run)
                slot = free.pop(0)
                running[slot] = (run, start(run, slots_[slot]))
            if pending and not running and not errors:  # not to happen
                fail(RuntimeError('no run can start: ' + ', '.join(
                    f'{r["method"]} seed {r["seed"]}' for r in pending)))
            if running:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        for run, handle in running.values():
            handle['proc'].kill()
            handle['proc'].wait()
            finish(run, handle, 'interrupted')
        raise
    return errors


def _describe(with_torch: bool = True) -> dict:
    """This machine: what decides numerics and speed (the torch part only
    ``with_torch``)."""
    info = dict(hostname=socket.gethostname(), cpu_model=None,
                cpu_count=os.cpu_count(), torch=None, cpu_capability=None,
                threads=None, gpu=None, cuda=None)
    try:
        with open('/proc/cpuinfo') as f:
            info['cpu_model'] = next((line.split(':', 1)[1].strip()
                                      for line in f
                                      if line.startswith('model name')), None)
    except OSError:
        pass
    info['cpu_model'] = info['cpu_model'] or platform.processor() or None
    try:
        import torch
    except ImportError:
        with_torch = False
    if not with_torch:
        return info
    capability = getattr(torch.backends.cpu, 'get_cpu_capability', None)
    info.update(torch=torch.__version__, threads=torch.get_num_threads(),
                cpu_capability=capability() if capability else None)
    if torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(0),
                    cuda=torch.version.cuda)
    return info


@functools.lru_cache()
def probe() -> dict:
    """:func:`_describe` as a training subprocess sees it (this process's
    interpreter and environment), asked once; without torch where that
    subprocess fails."""
    try:
        out = subprocess.run([sys.executable, osp.abspath(__file__)],
                             capture_output=True, text=True, check=True,
                             timeout=600).stdout
        return json.loads(out.splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return _describe(with_torch=False)


def machine(cores, env: dict) -> dict:
    """The ``machine`` of one attempt: :func:`probe`'s answer, the cores
    the run may use (its pinning, else this process's) and its intra-op
    threads (``OMP_NUM_THREADS`` when the tool sets it, else torch's
    default here)."""
    threads = env.get('OMP_NUM_THREADS')
    threads = int(threads) if threads and threads.isdigit() else threads
    return dict(probe(), cores=list(cores or usable_cores()),
                threads=threads or probe()['threads'])


def fingerprint(run: dict):
    """What decides a run's numerics, from each attempt's :func:`machine`:
    CPU model and capability, torch, threads (GPU and CUDA where used);
    None where no attempt says (records older than ``machine`` have a host
    name only). Attempts on different machines give all of theirs, joined
    with ' + '."""
    prints = set()
    machines = [a.get('machine') for a in run.get('attempts') or []]
    for m in machines or [run.get('machine')]:
        if not isinstance(m, dict) or not any(
                m.get(k) for k in ('cpu_model', 'torch', 'threads')):
            continue
        gpu = f', {m["gpu"]} (CUDA {m.get("cuda")})' if m.get('gpu') else ''
        prints.add(f'{m.get("cpu_model")}, {m.get("cpu_capability")}, torch '
                   f'{m.get("torch")}, {m.get("threads")} threads{gpu}')
    return ' + '.join(sorted(prints)) or None


if __name__ == '__main__':
    print(json.dumps(_describe()))
