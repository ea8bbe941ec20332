"""Running a sweep: execute every run not stored yet, resumably, on any executor.

Three executors (:mod:`cuhlm_sim.experiments.executors`) run the same worker function,
:func:`execute_run`: in-process (``--workers 1``, and what tests monkeypatch), a local process
pool, and a dask.distributed cluster. Workers return records; only the driver writes files, so
dask workers need no shared filesystem. A run that raises is stored with its error; the sweep
goes on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cuhlm_sim import MODEL_REVISION, __version__
from cuhlm_sim.config.build import load_scenario_trace, replayed_trace
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.executors import Executor, InProcessExecutor
from cuhlm_sim.experiments.sweep.plan import RunTask, SweepPlan
from cuhlm_sim.experiments.sweep.store import (
    RunStore,
    claim_sweep_folder,
    runs_frame,
    write_sweep_tables,
)
from cuhlm_sim.runner import run_scenario
from cuhlm_sim.traces.arrays import TraceArrays

log = logging.getLogger(__name__)


#: Traces already loaded in this process, by trace config (a worker reuses them across runs).
_TRACE_CACHE: dict[str, TraceArrays] = {}
_TRACE_CACHE_SIZE = 2
#: Prompt draws already made in this process, by (trace config, seed): a capacity search runs
#: every device count and axis value with the same few repetition seeds (a sweep every point),
#: and a draw depends on the trace and the seed only. Bounded in bytes, oldest out first; a
#: draw larger than the bound is not kept. The kept arrays are read-only, so no run can
#: change what the next one replays.
_REPLAY_CACHE: dict[tuple[str, int], tuple[TraceArrays, int]] = {}
REPLAY_CACHE_BYTES = 64 << 20


def _trace_key(scn: Scenario) -> str:
    return json.dumps(
        scn.trace.model_dump(mode="json", exclude={"resample_prompts"}), sort_keys=True
    )


def trace_nbytes(trace: TraceArrays) -> int:
    """Bytes of the trace's arrays."""
    return sum(
        v.nbytes
        for f in dataclasses.fields(trace)
        if isinstance(v := getattr(trace, f.name), np.ndarray)
    )


def cached_trace(scn: Scenario) -> TraceArrays:
    """The trace as loaded (before any prompt bootstrap, which each run draws from it)."""
    key = _trace_key(scn)
    trace = _TRACE_CACHE.get(key)
    if trace is None:
        trace = load_scenario_trace(scn)
        while len(_TRACE_CACHE) >= _TRACE_CACHE_SIZE:
            _TRACE_CACHE.pop(next(iter(_TRACE_CACHE)))
        _TRACE_CACHE[key] = trace
    return trace


def cached_replay(scn: Scenario, trace: TraceArrays) -> TraceArrays:
    """:func:`~cuhlm_sim.config.build.replayed_trace` of ``trace`` (the scenario's trace as
    loaded, :func:`cached_trace`), each seed's prompt draw made once per process."""
    if scn.trace.resample_prompts is not True:
        return replayed_trace(scn, trace)
    key = (_trace_key(scn), scn.seed)
    hit = _REPLAY_CACHE.pop(key, None)  # re-inserted below: the most recently used is last
    if hit is not None:
        _REPLAY_CACHE[key] = hit
        return hit[0]
    out = replayed_trace(scn, trace)
    for f in dataclasses.fields(out):  # the draw's own arrays, not those shared with trace
        v = getattr(out, f.name)
        if isinstance(v, np.ndarray) and v is not getattr(trace, f.name):
            v.flags.writeable = False
    size = trace_nbytes(out)
    if size <= REPLAY_CACHE_BYTES:
        while sum(n for _, n in _REPLAY_CACHE.values()) + size > REPLAY_CACHE_BYTES:
            _REPLAY_CACHE.pop(next(iter(_REPLAY_CACHE)))
        _REPLAY_CACHE[key] = (out, size)
    return out


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one task and return its record; an exception becomes a ``failed`` record."""
    record: dict[str, Any] = {
        "key": task.key,
        "point": task.point,
        "rep": task.rep,
        "seed": task.seed,
        "params": task.params,
        "status": "ok",
        "error": None,
        "summary": None,
        "wall_time_s": None,
        "cuhlm_sim_version": __version__,
        "model_revision": MODEL_REVISION,
    }
    t0 = time.perf_counter()
    try:
        scn = Scenario.model_validate(task.config)
        out = run_scenario(scn, trace=cached_trace(scn), replay=cached_replay)
        record["summary"] = out.summary
    except Exception as exc:  # a failed run is data, not a reason to stop the sweep
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=8)
    record["wall_time_s"] = time.perf_counter() - t0
    record["config"] = task.config
    return record


def run_tasks(
    tasks: Sequence[RunTask],
    store: RunStore,
    executor: Executor | None = None,
    *,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    retry_failed: bool = False,
    then: Callable[[dict[str, Any]], Sequence[RunTask]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every task whose key is not stored yet; return all records by key.

    Records are written as they arrive, so Ctrl-C or a crash loses at most the runs in flight.
    ``then(record)``, called once for every record of a task given (stored, or run and
    stored), returns further tasks, run the same way as soon as a worker is free: a capacity
    search's next device counts.
    """
    records: dict[str, dict[str, Any]] = {}
    queued: set[str] = set()
    follow = then or (lambda _rec: ())

    def to_run(batch: Sequence[RunTask]) -> list[RunTask]:
        """The tasks of ``batch`` to execute; stored ones (and what they lead to) are done."""
        todo: list[RunTask] = []
        waiting = list(batch)
        while waiting:
            task = waiting.pop(0)
            rec = records.get(task.key)
            if rec is None and task.key not in queued:
                rec = store.get(task.key)
                if rec is not None and rec["status"] != "ok" and retry_failed:
                    rec = None
                if rec is not None:
                    records[task.key] = rec
            if rec is not None:
                waiting.extend(follow(rec))
            elif task.key not in queued:  # a key already in flight gets its record then
                queued.add(task.key)
                todo.append(task)
        return todo

    todo = to_run(tasks)
    log.debug("%d runs stored, %d to run", len(records), len(todo))

    def finished(rec: dict[str, Any]) -> list[RunTask]:
        return to_run(follow(rec))

    executor = executor or InProcessExecutor()
    for rec in executor.imap(execute_run, todo, finished):
        store.put(rec)
        records[rec["key"]] = rec
        if rec["status"] != "ok":
            log.warning("run %s failed: %s", rec["key"], rec["error"])
        if on_result is not None:
            on_result(rec)
    return records


@dataclass
class SweepResult:
    out_dir: Path
    runs: pd.DataFrame
    points: pd.DataFrame
    executed: int
    failed: int


def run_sweep(
    plan: SweepPlan,
    out_dir: Path,
    executor: Executor | None = None,
    *,
    on_start: Callable[[int, int], None] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    retry_failed: bool = False,
    force: bool = False,
) -> SweepResult:
    """Run a planned sweep into ``out_dir`` (resuming) and write runs/points Parquet files.

    ``out_dir`` must be new, empty or this sweep's: another sweep's results are refused unless
    ``force``, which clears them (:func:`~cuhlm_sim.experiments.sweep.store.claim_folder`).
    ``on_start(total, already_done)`` and ``on_result(record)`` let a caller draw progress.
    """
    out_dir = Path(out_dir)
    claim_sweep_folder(plan, out_dir, force=force)
    store = RunStore(out_dir / "runs")
    done = sum(
        1
        for k in {t.key for t in plan.tasks}
        if (r := store.get(k)) is not None and (r["status"] == "ok" or not retry_failed)
    )
    total = len({t.key for t in plan.tasks})
    if on_start is not None:
        on_start(total, done)
    executed = 0

    def count(rec: dict[str, Any]) -> None:
        nonlocal executed
        executed += 1
        if on_result is not None:
            on_result(rec)

    records = run_tasks(plan.tasks, store, executor, on_result=count, retry_failed=retry_failed)
    runs = runs_frame(plan, records)
    points = write_sweep_tables(plan, out_dir, runs)
    failed = int((runs["status"] != "ok").sum()) if not runs.empty else 0
    return SweepResult(out_dir, runs, points, executed, failed)
