# Copyright (c) dmt_mm contributors. All rights reserved.
"""Distributed runs on machines without CUDA (gloo), e.g. CPU DDP tests."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = ['setup_cpu_distributed', 'finish_distributed']


def setup_cpu_distributed(cfg: Config) -> bool:
    """Let ``--launcher pytorch`` run on CPU processes.

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and wraps
    the model with ``device_ids=[LOCAL_RANK]``, both of which need CUDA. On
    a machine without CUDA this initialises the ``gloo`` process group from
    the torchrun environment (mmengine then skips its own initialisation)
    and wraps the model without device ids. With CUDA it does nothing.

    Returns:
        bool: Whether a CPU process group was set up.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the torchrun environment; missing '
            f'{missing} (start with tools/dist_train.sh or torchrun)')
    if not dist.is_initialized():
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    env = cfg.setdefault('env_cfg', {})
    env.setdefault('dist_cfg', {})['backend'] = 'gloo'
    return True


def finish_distributed() -> None:
    """Tear the process group down after a successful distributed run.

    Exiting with a live ``gloo`` group leaves its C++ worker threads to the
    interpreter's static destructors, which can abort a rank at exit
    (``terminate called without an active exception``) after all work was
    done and saved. A barrier first lets every rank reach the end, then the
    group is destroyed. Does nothing when no process group exists.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
