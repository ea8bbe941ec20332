"""Parameter sweeps: expand a sweep file into runs, execute them resumably, aggregate.

A sweep file names a base scenario and the parameters to vary by their dotted keys. Every
combination (a *point*) is run ``repetitions`` times with seeds derived from the base seed by
:class:`numpy.random.SeedSequence`, so a sweep is reproducible and adding a repetition leaves
the earlier ones unchanged. The same repetition seeds are used at every point (common random
numbers), which makes differences between points less noisy.

Each run is keyed by a hash of its resolved scenario (seed included) and stored as one small
JSON file, ``DIR/runs/<key>.json``, written atomically. A rerun skips every key already on
disk, so an interrupted sweep continues where it stopped. A run that raises is stored with its
error; the sweep goes on. ``DIR/runs.parquet`` (one row per run) and ``DIR/points.parquet``
(mean, standard deviation and Student-t 95% CI half-width per point) are rebuilt at the end,
with ``DIR/sweep.json`` (axes, points, seeds) for the plots.

Three executors run the same worker function, :func:`execute_run`: in-process (``--workers
1``, and what tests monkeypatch), a local process pool, and a dask.distributed cluster. Workers
return records; only the driver writes files, so dask workers need no shared filesystem.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cuhlm_sim import MODEL_REVISION, __version__
from cuhlm_sim.atomic import atomic_path
from cuhlm_sim.config.build import load_scenario_trace
from cuhlm_sim.config.load import apply_overrides, format_validation_error, read_yaml
from cuhlm_sim.config.reference import scenario_key_exists
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import CuhlmError, ScenarioError
from cuhlm_sim.experiments.executors import (  # noqa: F401 (re-exported for callers)
    DaskRunner,
    Executor,
    InProcessExecutor,
    ProcessPoolRunner,
    make_executor,
)
from cuhlm_sim.experiments.results import (  # noqa: F401 (re-exported for callers)
    RUN_META,
    ci95_half_width,
    flatten_summary,
    points_frame,
    write_frame,
)
from cuhlm_sim.outputs.writer import dump_json
from cuhlm_sim.runner import run_scenario
from cuhlm_sim.traces.arrays import TraceArrays

log = logging.getLogger(__name__)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RangeAxis(_Spec):
    """``start, start + step, ...`` up to and including ``stop`` (within 1e-9 steps)."""

    start: float
    stop: float
    step: float = Field(gt=0)


class LogRangeAxis(_Spec):
    """``num`` values spaced evenly on a log scale from ``start`` to ``stop`` (both included)."""

    start: float = Field(gt=0)
    stop: float = Field(gt=0)
    num: int = Field(ge=1)
    integer: bool = Field(False, description="Round to integers and drop repeats.")


class SweepSpec(_Spec):
    """A sweep file: base scenario, fixed overrides, axes, repetitions.

    Axes combine as a cartesian product: each ``grid``, ``range`` and ``logrange`` key is one
    dimension; all ``zip`` keys together are one dimension (their lists are walked in step).
    """

    scenario: Path | None = Field(
        None, description="Base scenario, relative to the sweep file (omit with a sweep: block)."
    )
    name: str = ""
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    range: dict[str, RangeAxis] = Field(default_factory=dict)
    logrange: dict[str, LogRangeAxis] = Field(default_factory=dict)
    repetitions: int = Field(1, ge=1)
    seed: int | None = Field(None, ge=0, description="Base seed; null = the scenario's seed.")


def range_values(axis: RangeAxis) -> list[float | int]:
    """Inclusive arithmetic range; integers stay integers so ``devices.count`` validates."""
    n = math.floor((axis.stop - axis.start) / axis.step + 1e-9) + 1
    values = [axis.start + i * axis.step for i in range(max(n, 0))]
    if all(float(v).is_integer() for v in (axis.start, axis.step)):
        return [round(v) for v in values]
    return [round(v, 12) for v in values]


def logrange_values(axis: LogRangeAxis) -> list[float | int]:
    values = np.geomspace(axis.start, axis.stop, axis.num)
    if axis.integer:
        return list(dict.fromkeys(int(np.rint(v)) for v in values))
    return [float(v) for v in values]


def derived_seeds(base_seed: int, repetitions: int) -> list[int]:
    """Seed of repetition r = SeedSequence(base_seed, spawn_key=(r,)); stable as reps grow."""
    return [
        int(np.random.SeedSequence(base_seed, spawn_key=(r,)).generate_state(1, np.uint32)[0])
        for r in range(repetitions)
    ]


def run_key(config: Mapping[str, Any]) -> str:
    """Hash of a resolved scenario (seed included) and the model revision: the run's identity
    on disk, so a model that gives other results never reuses stored runs."""
    keyed = {"model_revision": MODEL_REVISION, "config": config}
    text = json.dumps(keyed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class RunTask:
    """One run: a resolved scenario as plain JSON (picklable for any executor)."""

    key: str
    point: int
    rep: int
    seed: int
    params: dict[str, Any]
    config: dict[str, Any]


@dataclass
class SweepPlan:
    """Everything a sweep will run, checked before the first run starts."""

    source: str
    spec: SweepSpec
    axes: list[str]
    points: list[dict[str, Any]]
    seeds: list[int]
    tasks: list[RunTask] = field(default_factory=list)


def runs_frame(plan: SweepPlan, records: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per run of this plan: swept parameters, seed, status and every scalar metric."""
    rows = []
    for task in plan.tasks:
        rec = records.get(task.key)
        if rec is None:
            continue
        row: dict[str, Any] = {
            "key": task.key,
            "point": task.point,
            "rep": task.rep,
            "seed": task.seed,
            "status": rec["status"],
            "error": rec.get("error"),
            "wall_time_s": rec.get("wall_time_s"),
        }
        row.update(task.params)
        row.update(flatten_summary(rec.get("summary")))
        rows.append(row)
    return pd.DataFrame(rows)


def _axis_dimensions(spec: SweepSpec, source: str) -> list[list[dict[str, Any]]]:
    """One list of partial assignments per dimension; every problem reported at once."""
    problems: list[str] = []
    dims: list[list[dict[str, Any]]] = []
    seen: set[str] = set(spec.overrides)
    for key in spec.overrides:
        if not scenario_key_exists(key):
            problems.append(f"{source}: set.{key}: unknown scenario key (see `cuhlm keys`)")

    def check(block: str, key: str, values: Sequence[Any]) -> bool:
        ok = True
        if not scenario_key_exists(key):
            problems.append(f"{source}: {block}.{key}: unknown scenario key (see `cuhlm keys`)")
            ok = False
        elif key == "seed":
            problems.append(f"{source}: {block}.seed: use `repetitions` to vary the seed")
            ok = False
        if len(values) == 0:
            problems.append(f"{source}: {block}.{key}: empty axis (give at least one value)")
            ok = False
        if key in seen:
            problems.append(f"{source}: {block}.{key}: key is set or swept twice")
            ok = False
        seen.add(key)
        return ok

    for key, values in spec.grid.items():
        if check("grid", key, values):
            dims.append([{key: v} for v in values])
    if spec.zip:
        lengths = {k: len(v) for k, v in spec.zip.items()}
        ok = all([check("zip", k, v) for k, v in spec.zip.items()])
        if len(set(lengths.values())) > 1:
            problems.append(f"{source}: zip: lists differ in length {lengths}")
        elif ok:
            keys = list(spec.zip)
            rows = zip(*spec.zip.values(), strict=True)
            dims.append([dict(zip(keys, vs, strict=True)) for vs in rows])
    for key, axis in spec.range.items():
        values = range_values(axis)
        if check("range", key, values):
            dims.append([{key: v} for v in values])
    for key, laxis in spec.logrange.items():
        values = logrange_values(laxis)
        if check("logrange", key, values):
            dims.append([{key: v} for v in values])
    if problems:
        raise ScenarioError("\n".join(problems))
    return dims


def plan_sweep(
    spec: SweepSpec, base: dict[str, Any], source: str, base_dir: Path | None = None
) -> SweepPlan:
    """Expand axes, derive seeds and validate every point's Scenario before anything runs.

    ``base`` is the scenario as read from YAML; ``base_dir`` resolves its relative trace path.
    """
    base = dict(base)
    trace = base.get("trace")
    if base_dir is not None and isinstance(trace, dict) and isinstance(trace.get("path"), str):
        tpath = Path(trace["path"]).expanduser()
        if not tpath.is_absolute():
            base["trace"] = dict(trace, path=str((base_dir / tpath).resolve()))
    dims = _axis_dimensions(spec, source)
    axes = [k for d in dims for k in d[0]]
    points = [
        {k: v for part in combo for k, v in part.items()} for combo in itertools.product(*dims)
    ]
    fixed = apply_overrides(base, spec.overrides.items())
    if spec.seed is not None:
        fixed["seed"] = spec.seed
    try:
        base_scn = Scenario.model_validate(fixed)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(f"{source} (base scenario)", exc)) from None
    seeds = derived_seeds(base_scn.seed, spec.repetitions)
    plan = SweepPlan(source, spec, axes, points, seeds)
    errors: list[str] = []
    for i, params in enumerate(points):
        try:
            scn = Scenario.model_validate(apply_overrides(fixed, params.items()))
        except ValidationError as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in params.items())
            errors.append(format_validation_error(f"{source}: point {i} ({where})", exc))
            continue
        for rep, seed in enumerate(seeds):
            config = scn.model_copy(update={"seed": seed}).model_dump(mode="json")
            plan.tasks.append(RunTask(run_key(config), i, rep, seed, params, config))
    if errors:
        raise ScenarioError("\n".join(errors))
    return plan


def load_sweep(path: str | Path) -> SweepPlan:
    """Read a sweep file (or a scenario with a ``sweep:`` block) and plan it."""
    path = Path(path)
    data = read_yaml(path)
    if "sweep" in data:  # a scenario file carrying its own sweep block
        raw_spec = data.pop("sweep")
        if not isinstance(raw_spec, dict):
            raise ScenarioError(f"{path}: sweep: expected a mapping of axes")
        base, base_dir = data, path.parent
    else:
        raw_spec, base, base_dir = data, None, None
        scenario_keys = sorted(
            {"devices", "channel", "uplink", "server", "policy", "duration_s"} & data.keys()
        )
        if "scenario" not in data and scenario_keys:
            raise ScenarioError(
                f"{path}: this is a scenario file (it has `{scenario_keys[0]}:`), not a sweep: "
                f"run it with `cuhlm run {path}`, or name it under `scenario:` in a sweep file "
                "(or add a `sweep:` block to it)"
            )
    try:
        spec = SweepSpec.model_validate(raw_spec)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(str(path), exc)) from None
    if base is None:
        if spec.scenario is None:
            raise ScenarioError(
                f"{path}: scenario: missing (the sweep file must name its base scenario file)"
            )
        scn_path = spec.scenario if spec.scenario.is_absolute() else path.parent / spec.scenario
        base, base_dir = read_yaml(scn_path), scn_path.parent
    return plan_sweep(spec, base, str(path), base_dir)


# --- run store and worker --------------------------------------------------------------------


class RunStore:
    """``DIR/<key>.json`` per finished run; each file appears atomically (write, then rename).

    ``root=None`` keeps records in memory only (a capacity search without ``--out``).
    """

    def __init__(self, root: Path | None) -> None:
        self.root = None if root is None else Path(root)
        self._memory: dict[str, dict[str, Any]] = {}

    def path(self, key: str) -> Path:
        if self.root is None:
            raise ValueError("an in-memory RunStore has no files")
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.root is None:
            return self._memory.get(key)
        try:
            return json.loads(self.path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("ignoring unreadable run file %s; the run will be repeated", self.path(key))
            return None

    def put(self, record: dict[str, Any]) -> None:
        if self.root is None:
            self._memory[record["key"]] = record
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path(record["key"])) as tmp:
            dump_json(record, tmp)


#: Traces already loaded in this process, by trace config (a worker reuses them across runs).
_TRACE_CACHE: dict[str, TraceArrays] = {}
_TRACE_CACHE_SIZE = 2


def cached_trace(scn: Scenario) -> TraceArrays:
    key = json.dumps(scn.trace.model_dump(mode="json"), sort_keys=True)
    trace = _TRACE_CACHE.get(key)
    if trace is None:
        trace = load_scenario_trace(scn)
        while len(_TRACE_CACHE) >= _TRACE_CACHE_SIZE:
            _TRACE_CACHE.pop(next(iter(_TRACE_CACHE)))
        _TRACE_CACHE[key] = trace
    return trace


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
        out = run_scenario(scn, trace=cached_trace(scn))
        record["summary"] = out.summary
    except Exception as exc:  # a failed run is data, not a reason to stop the sweep
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=8)
    record["wall_time_s"] = time.perf_counter() - t0
    record["config"] = task.config
    return record


# --- running -------------------------------------------------------------------------------


def run_tasks(
    tasks: Sequence[RunTask],
    store: RunStore,
    executor: Executor | None = None,
    *,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    retry_failed: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run every task whose key is not stored yet; return all records by key.

    Records are written as they arrive, so Ctrl-C or a crash loses at most the runs in flight.
    """
    records: dict[str, dict[str, Any]] = {}
    todo: list[RunTask] = []
    for task in dict((t.key, t) for t in tasks).values():
        rec = store.get(task.key)
        if rec is not None and (rec["status"] == "ok" or not retry_failed):
            records[task.key] = rec
        else:
            todo.append(task)
    log.debug("%d runs stored, %d to run", len(records), len(todo))
    executor = executor or InProcessExecutor()
    for rec in executor.imap(execute_run, todo):
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
) -> SweepResult:
    """Run a planned sweep into ``out_dir`` (resuming) and write runs/points Parquet files.

    ``on_start(total, already_done)`` and ``on_result(record)`` let a caller draw progress.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CuhlmError(f"--out: {out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
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
    points = points_frame(runs, plan.axes)
    meta = {
        "source": plan.source,
        "name": plan.spec.name,
        "axes": plan.axes,
        "points": plan.points,
        "repetitions": plan.spec.repetitions,
        "seeds": plan.seeds,
    }
    with atomic_path(out_dir / "sweep.json") as tmp:
        dump_json(meta, tmp)
    write_frame(runs, out_dir / "runs.parquet")
    write_frame(points, out_dir / "points.parquet")
    failed = int((runs["status"] != "ok").sum()) if not runs.empty else 0
    return SweepResult(out_dir, runs, points, executed, failed)
