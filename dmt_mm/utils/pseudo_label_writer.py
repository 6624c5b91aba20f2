# Copyright (c) dmt_mm contributors. All rights reserved.
"""Write pseudo-label maps on worker threads.

The labelling pass of DMT (arXiv:2004.08514) writes one 16-bit PNG per
unlabelled image (:func:`~dmt_mm.utils.pseudo_label_io.write_pseudo_label`).
Encoding a PNG (zlib) and writing the file on the thread that runs the
teacher makes the accelerator wait for the CPU after every image. OpenCV's
``imencode`` and file I/O release the GIL, so a small thread pool overlaps
them with the next batch's inference.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

import torch

from .pseudo_label_io import write_pseudo_label

__all__ = ['PseudoLabelWriter']


class PseudoLabelWriter:
    """Encode and write pseudo-label maps on a pool of threads.

    Each :meth:`submit` queues one map; the copy to host memory (for device
    tensors), the PNG encoding and the atomic write run on a worker, so the
    caller never waits for them, except when ``max_pending`` maps are already
    queued (this bounds the memory held by the queue). :meth:`close` waits for
    every write and re-raises the first error; a failed write is also raised
    by the next :meth:`submit`, so a full disk stops the pass early.

    Example::

        with PseudoLabelWriter(num_workers=4) as writer:
            for path, label, level in maps:
                writer.submit(path, label, level)

    Args:
        num_workers (int): Writer threads; 0 writes inside :meth:`submit` on
            the calling thread. Defaults to 4.
        max_pending (int, optional): Most maps queued or being written at
            once; :meth:`submit` blocks beyond it. Defaults to
            ``4 * num_workers``.
        atomic (bool): Write each file through a temporary file and a rename
            (see :func:`~dmt_mm.utils.pseudo_label_io.write_pseudo_label`);
            ``False`` only for a staging directory published as a whole.
            Defaults to True.
    """

    def __init__(self,
                 num_workers: int = 4,
                 max_pending: Optional[int] = None,
                 atomic: bool = True) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) \
                or num_workers < 0:
            raise ValueError(
                f'num_workers must be an int >= 0, got {num_workers!r}')
        if max_pending is None:
            max_pending = 4 * max(num_workers, 1)
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) \
                or max_pending < 1:
            raise ValueError(
                f'max_pending must be an int >= 1, got {max_pending!r}')
        self.num_workers = num_workers
        self.atomic = atomic
        self._pool = (
            ThreadPoolExecutor(
                num_workers, thread_name_prefix='pseudo_label_writer')
            if num_workers > 0 else None)
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self._errors: List[BaseException] = []
        self._closed = False
        self.num_written = 0

    def submit(self, path: str, label: torch.Tensor,
               level: torch.Tensor) -> None:
        """Queue one map for writing.

        Args:
            path (str): Destination ``.png`` path.
            label (Tensor): Pseudo labels ``(H, W)``, integer, any device.
                Not modified afterwards by the caller.
            level (Tensor): Confidence levels ``(H, W)``, uint8 (see
                :func:`~dmt_mm.utils.pseudo_label_io.encode_confidence`).
        """
        if self._closed:
            raise RuntimeError('PseudoLabelWriter is closed')
        if self._pool is None:
            write_pseudo_label(path, label, level, self.atomic)
            self.num_written += 1
            return
        self._slots.acquire()
        try:
            self._raise_first_error()
            self._pool.submit(self._write, path, label.detach(),
                              level.detach())
        except BaseException:
            self._slots.release()
            raise

    def _write(self, path: str, label: torch.Tensor,
               level: torch.Tensor) -> None:
        try:
            write_pseudo_label(path, label.cpu(), level.cpu(), self.atomic)
            with self._lock:
                self.num_written += 1
        except BaseException as e:  # re-raised on the caller's thread
            with self._lock:
                self._errors.append(e)
        finally:
            self._slots.release()

    def _raise_first_error(self) -> None:
        with self._lock:
            error = self._errors[0] if self._errors else None
        if error is not None:
            raise RuntimeError(
                f'writing a pseudo label failed: {error}') from error

    def close(self) -> None:
        """Wait for every queued write, then re-raise the first error."""
        if not self._closed:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        self._raise_first_error()

    def __enter__(self) -> 'PseudoLabelWriter':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        # Leaving on an error: wait for the writers, keep the first error.
        try:
            self.close()
        except RuntimeError:
            pass
