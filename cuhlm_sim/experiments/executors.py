"""Where runs execute: in this process, a local process pool, or a dask.distributed cluster.

Each executor maps a picklable function over items and yields results as they finish, so the
sweep and capacity code never know which one they use. ``then(result)`` may hand back more
items, run as soon as a worker is free: a capacity search submits a point's next device count
when that point's repetitions are in, instead of waiting for every point's (no lock step).

Pool workers never outlive the command: each one asks the kernel to kill it when its parent
dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) and also watches ``os.getppid()`` (other systems,
and the case the kernel's rule misses), so a ``kill -9`` of ``cuhlm sweep`` leaves no orphans
holding memory. Workers ignore SIGINT: Ctrl-C reaches the whole process group, and only the
parent should react (stop, keep what is stored, say so), not every worker with a traceback.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import itertools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from cuhlm_sim.errors import CuhlmError, MissingExtraError

#: ``then(result)``: the items that finishing ``result`` makes ready (none: an empty list).
Then = Callable[[Any], Sequence[Any]]


def _nothing_more(_result: Any) -> Sequence[Any]:
    return ()


class Executor(Protocol):
    """Runs ``fn`` over items and yields results as they finish (any order); after a result
    is yielded and the consumer asks for the next one, ``then(result)``'s items are run too."""

    def imap(
        self, fn: Callable[[Any], Any], items: Sequence[Any], then: Then = _nothing_more
    ) -> Iterator[Any]: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """One run after another in this process (``--workers 1``; easy to debug and to patch)."""

    def imap(
        self, fn: Callable[[Any], Any], items: Sequence[Any], then: Then = _nothing_more
    ) -> Iterator[Any]:
        queue = collections.deque(items)
        while queue:
            result = fn(queue.popleft())
            yield result
            queue.extend(then(result))

    def close(self) -> None:
        return None


#: prctl(2) option: the signal a process gets when the thread that created it exits.
PR_SET_PDEATHSIG = 1
#: How often a worker's watchdog compares os.getppid() with its parent [s].
PARENT_POLL_S = 0.5


def _watch_parent(parent_pid: int) -> None:
    """Exit as soon as this process is re-parented (its parent died)."""
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def exit_with_parent(parent_pid: int, kernel_rule: bool) -> None:
    """Pool-worker initializer: die with the parent, leave Ctrl-C to it.

    ``kernel_rule`` asks Linux for SIGKILL on the parent's death. The kernel ties that to the
    creating *thread*, so the parent passes True only from its main thread (a pool made in a
    short-lived thread would otherwise kill its workers early); the watchdog thread covers the
    rest, within :data:`PARENT_POLL_S`. Workers write no files, so a hard kill loses nothing
    but the runs in flight, which the next run of the command repeats.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if kernel_rule and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no libc symbol: watchdog only
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the rule was in place
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="cuhlm-parent-watch", daemon=True
    ).start()


class ProcessPoolRunner:
    """A local process pool (the platform's start method; scripts need a ``__main__`` guard).

    Workers die with this process (:func:`exit_with_parent`). :meth:`close` with runs still in
    flight (Ctrl-C, an error) terminates the workers instead of waiting for those runs.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[Any]] = []

    def imap(
        self, fn: Callable[[Any], Any], items: Sequence[Any], then: Then = _nothing_more
    ) -> Iterator[Any]:
        if not items:
            return
        if self._pool is None:
            main = threading.current_thread() is threading.main_thread()
            self._pool = ProcessPoolExecutor(
                min(self.workers, len(items)),
                initializer=exit_with_parent,
                initargs=(os.getpid(), main),
            )
        pool = self._pool
        self._futures = [pool.submit(fn, item) for item in items]
        pending = set(self._futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    result = fut.result()
                    yield result
                    more = [pool.submit(fn, item) for item in then(result)]
                    self._futures.extend(more)
                    pending.update(more)
        except BaseException:
            for fut in self._futures:
                fut.cancel()
            raise

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if any(not f.done() for f in self._futures):  # interrupted: do not wait for the runs
            pool.shutdown(wait=False, cancel_futures=True)
            # No public API stops running workers before Python 3.14 (terminate_workers).
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        self._futures = []


class DaskRunner:
    """Submit runs to a dask.distributed cluster: ``tcp://host:port``, ``local``, or a Client.

    ``local`` starts a LocalCluster of ``workers`` single-threaded processes on this machine.
    dask's own logging is turned down to warnings: its INFO lines (about 35 per command: every
    worker, connection and shutdown step) would bury the progress bar.
    """

    def __init__(
        self, address: str | None = None, *, client: Any = None, workers: int | None = None
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingExtraError(
                "--scheduler needs dask.distributed: pip install -e '.[cluster]'"
            ) from None
        for name in ("distributed", "distributed.client"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._own_cluster = None
        if client is not None:
            self.client, self._own_client = client, False
            return
        if address in (None, "local"):
            self._own_cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                silence_logs=logging.WARNING,
            )
            address = self._own_cluster.scheduler_address
        try:
            self.client = Client(address, timeout="10s")
        except ValueError as exc:  # dask could not parse the address
            raise CuhlmError(
                f"--scheduler {address!r}: expected 'local' or a scheduler address such as "
                f"tcp://host:8786 ({exc})"
            ) from None
        except OSError as exc:
            raise CuhlmError(f"--scheduler {address}: cannot connect ({exc})") from None
        self._own_client = True

    def imap(
        self, fn: Callable[[Any], Any], items: Sequence[Any], then: Then = _nothing_more
    ) -> Iterator[Any]:
        from distributed import as_completed as dask_as_completed

        if not items:
            return
        count = itertools.count()

        def submit(item: Any) -> Any:
            key = f"cuhlm-{getattr(item, 'key', next(count))}"
            return self.client.submit(fn, item, key=key, pure=False)

        futures = [submit(item) for item in items]
        running = dask_as_completed(futures)
        try:
            for fut in running:
                result = fut.result()
                yield result
                for item in then(result):
                    futures.append(submit(item))
                    running.add(futures[-1])
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
