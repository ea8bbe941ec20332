"""Where runs execute: in this process, a local process pool, or a dask.distributed cluster.

Each executor maps a picklable function over items and yields results as they finish, so the
sweep and capacity code never know which one they use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol

from cuhlm_sim.errors import CuhlmError, MissingExtraError


class Executor(Protocol):
    """Runs ``fn`` over items and yields results as they finish (any order)."""

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """One run after another in this process (``--workers 1``; easy to debug and to patch)."""

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        return None


class ProcessPoolRunner:
    """A local process pool (the platform's start method; scripts need a ``__main__`` guard)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        if not items:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(min(self.workers, len(items)))
        futures = [self._pool.submit(fn, item) for item in items]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskRunner:
    """Submit runs to a dask.distributed cluster: ``tcp://host:port``, ``local``, or a Client.

    ``local`` starts a LocalCluster of ``workers`` single-threaded processes on this machine.
    """

    def __init__(
        self, address: str | None = None, *, client: Any = None, workers: int | None = None
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingExtraError(
                "--scheduler needs dask.distributed: pip install 'dask>=2024.1' distributed"
            ) from None
        self._own_cluster = None
        if client is not None:
            self.client, self._own_client = client, False
            return
        if address in (None, "local"):
            self._own_cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1
            )
            address = self._own_cluster.scheduler_address
        try:
            self.client = Client(address, timeout="10s")
        except OSError as exc:
            raise CuhlmError(f"--scheduler {address}: cannot connect ({exc})") from None
        self._own_client = True

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        from distributed import as_completed as dask_as_completed

        if not items:
            return
        futures = [
            self.client.submit(fn, item, key=f"cuhlm-{getattr(item, 'key', i)}", pure=False)
            for i, item in enumerate(items)
        ]
        try:
            for fut in dask_as_completed(futures):
                yield fut.result()
        except BaseException:
            self.client.cancel(futures)
            raise

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._own_cluster is not None:
            self._own_cluster.close()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor the CLI options ask for: dask if ``scheduler``, else a pool or in-process."""
    if scheduler:
        return DaskRunner(scheduler, workers=workers)
    if workers is not None and workers < 1:
        raise CuhlmError(f"--workers: must be >= 1 (got {workers})")
    if workers == 1:
        return InProcessExecutor()
    return ProcessPoolRunner(workers)
