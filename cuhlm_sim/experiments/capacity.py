"""Capacity search: the largest ``devices.count`` that meets every SLO.

For each value of the ``--over`` axes, the device count is found by exponential search
(1, 2, 4, ... until a count fails) and then bisection between the last passing and the first
failing count. A count *passes* when, for every SLO, the mean of the metric over the
repetitions meets the bound; a run that fails or a metric that is undefined (null) fails the
count. Any numeric key of ``summary.json`` can carry an SLO (``p95_request_latency_s<=30``,
``request_throughput_per_s>=2``; a nested one as ``name.sub``); an unknown one is a user
error. The search assumes the metrics are monotone in the number of devices, which holds for
latencies and utilisations of a shared cell up to simulation noise; the per-count means and
95% CIs in the output show how close the boundary evaluations are.

The searches of the axis values run side by side: all first counts are submitted at once,
and each value's next count as soon as its own repetitions are in (not when every value's
are), so no worker waits for the slowest value of a step. Each search sees only its own
results, so the counts tried and the capacities do not depend on the order runs finish in.
Runs are keyed and stored like sweep runs: with an output folder, an interrupted search
resumes without repeating a run. Like sweep runs, they replay
their own draw of the trace's prompts unless the scenario turns it off (``SWEEP_DEFAULTS``).
"""

from __future__ import annotations

import itertools
import logging
import math
import operator
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from cuhlm_sim.atomic import atomic_path
from cuhlm_sim.config.load import apply_overrides, format_validation_error, parse_value
from cuhlm_sim.config.reference import scenario_key_exists
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import CuhlmError, ScenarioError
from cuhlm_sim.experiments.executors import Executor
from cuhlm_sim.experiments.results import ci95_half_width, flatten_summary
from cuhlm_sim.experiments.sweep.plan import RunTask, derived_seeds, run_key, with_sweep_defaults
from cuhlm_sim.experiments.sweep.runner import run_tasks
from cuhlm_sim.experiments.sweep.spec import MAX_REPETITIONS
from cuhlm_sim.experiments.sweep.store import RunStore
from cuhlm_sim.outputs.writer import dump_json

log = logging.getLogger(__name__)

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_SLO_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class SLO:
    """``metric op threshold``, e.g. ``p95_token_latency_s <= 0.5`` (metric from summary.json)."""

    metric: str
    op: str
    threshold: float

    def met(self, value: float) -> bool:
        return math.isfinite(value) and _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_slo(text: str) -> SLO:
    m = _SLO_RE.match(text)
    if m is None:
        raise CuhlmError(f"--slo {text!r}: expected METRIC<=VALUE (operators <=, <, >=, >)")
    metric, op, raw = m.groups()
    try:
        threshold = float(raw)
    except ValueError:
        raise CuhlmError(f"--slo {text!r}: {raw!r} is not a number") from None
    if not math.isfinite(threshold):
        raise CuhlmError(f"--slo {text!r}: the bound must be a finite number (got {raw!r})")
    return SLO(metric, op, threshold)


def parse_over(text: str) -> tuple[str, list[Any]]:
    """``channel.snr_db=0,5,10`` -> (key, values); values are YAML scalars (``hlm``, ``1e6``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise CuhlmError(f"--over {text!r}: expected KEY=V1,V2,...")
    if not scenario_key_exists(key):
        raise CuhlmError(f"--over {text!r}: {key} is not a scenario key (see `cuhlm keys`)")
    if key in ("devices.count", "seed"):
        raise CuhlmError(f"--over {text!r}: {key} is set by the search itself")
    values = [parse_value(v, f"--over {key}") for v in raw.split(",") if v.strip()]
    if not values:
        raise CuhlmError(f"--over {text!r}: empty axis (give at least one value)")
    return key, values


def _search(start: int, max_devices: int, resolution: int) -> Generator[int, bool, tuple[int, int]]:
    """Yield counts to try, receive pass/fail; return (largest passing, smallest failing).

    The smallest failing count is ``max_devices + 1`` when even ``max_devices`` passes.
    """
    lo, hi, n = 0, max_devices + 1, start
    while True:  # exponential phase
        if (yield n):
            lo = n
            if n >= max_devices:
                return lo, hi
            n = min(2 * n, max_devices)
        else:
            hi = n
            break
    while hi - lo > resolution:  # bisection phase
        mid = (lo + hi) // 2
        if (yield mid):
            lo = mid
        else:
            hi = mid
    return lo, hi


#: The summary key whose mean at the capacity is reported as ``capacity_requests_per_s``.
REQUEST_RATE = "request_throughput_per_s"


@dataclass
class CapacityEntry:
    """Result for one axis value; ``capacity = lower`` and ``upper`` is the first failing count;
    ``capacity_requests_per_s``: the mean request throughput of the runs at the capacity (None
    when the capacity is 0 or those runs have no finite value)."""

    params: dict[str, Any]
    capacity: int = 0
    capacity_requests_per_s: float | None = None
    lower: int = 0
    upper: int = 0
    capped: bool = False
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        first = next(iter(self.params.items()), (None, None))
        return {
            "key": first[0],
            "value": first[1],
            "params": self.params,
            "capacity": self.capacity,
            "capacity_requests_per_s": self.capacity_requests_per_s,
            "lower": self.lower,
            "upper": self.upper,
            "capped": self.capped,
            "evaluations": sorted(self.evaluations, key=lambda e: e["devices"]),
            "runs": self.runs,
        }


def _point_scenarios(
    base: Scenario, over: Sequence[tuple[str, list[Any]]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(axis params, scenario data) for every combination, each validated before any run."""
    keys = [k for k, _ in over]
    base_data = base.model_dump(mode="json")
    out, errors = [], []
    for combo in itertools.product(*(vals for _, vals in over)):
        params = dict(zip(keys, combo, strict=True))
        data = apply_overrides(base_data, params.items())
        try:
            Scenario.model_validate(data)
        except ValidationError as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "base scenario"
            errors.append(format_validation_error(f"--over ({where})", exc))
        out.append((params, data))
    if errors:
        raise ScenarioError("\n".join(errors))
    return out


def _check_metrics(base: Scenario, slos: Sequence[SLO]) -> None:
    """Fail fast on a misspelt SLO metric: a 1 ms probe run lists the summary's metrics."""
    from cuhlm_sim.experiments.sweep.runner import cached_trace
    from cuhlm_sim.runner import run_scenario

    probe = Scenario.model_validate(
        apply_overrides(
            base.model_dump(mode="json"),
            [("duration_s", 1e-3), ("warmup_s", 0.0), ("devices.count", 1)],
        )
    )
    summary = run_scenario(probe, trace=cached_trace(probe)).summary
    known = flatten_summary(summary)
    unknown = [s for s in slos if s.metric not in known]
    if unknown and unknown[0].metric in summary:
        value = summary[unknown[0].metric]
        raise CuhlmError(
            f"--slo {unknown[0]}: {unknown[0].metric!r} is not a numeric metric "
            f"(summary.json holds a {type(value).__name__} there); SLOs compare numbers"
        )
    if unknown:
        names = ", ".join(sorted(known))
        raise CuhlmError(
            f"--slo {unknown[0]}: unknown metric {unknown[0].metric!r} (known: {names})"
        )


def find_capacity(
    base: Scenario,
    slos: Sequence[SLO],
    over: Sequence[tuple[str, list[Any]]] = (),
    *,
    repetitions: int = 3,
    start: int = 1,
    max_devices: int = 1024,
    resolution: int = 1,
    executor: Executor | None = None,
    store: RunStore | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[CapacityEntry]:
    """Capacity of ``base`` for every combination of the ``over`` axes (see module doc)."""
    if not slos:
        raise CuhlmError("--slo: give at least one SLO, e.g. --slo 'p95_token_latency_s<=0.5'")
    if repetitions < 1 or start < 1 or resolution < 1 or max_devices < start:
        raise CuhlmError(
            "capacity: need repetitions >= 1, start >= 1, resolution >= 1, max_devices >= start "
            f"(got {repetitions}, {start}, {resolution}, {max_devices})"
        )
    if repetitions > MAX_REPETITIONS:
        raise CuhlmError(f"--reps: at most {MAX_REPETITIONS:,} repetitions (got {repetitions:,})")
    points = _point_scenarios(base, over)
    _check_metrics(base, slos)
    store = store or RunStore(None)
    seeds = derived_seeds(base.seed, repetitions)
    entries = [CapacityEntry(params) for params, _ in points]
    searches = [_search(start, max_devices, resolution) for _ in points]
    current: dict[int, tuple[int, list[RunTask]]] = {}  # point -> (count, its tasks)
    waiting: dict[str, list[int]] = {}  # run key -> points whose current count needs it
    got: dict[int, dict[str, dict[str, Any]]] = {}  # point -> records of its current count

    def tasks_for(i: int, n: int) -> list[RunTask]:
        """Point ``i``'s runs at ``n`` devices, one per repetition seed."""
        params, data = points[i]
        tasks = []
        for rep, seed in enumerate(seeds):
            config = apply_overrides(data, [("devices.count", n), ("seed", seed)])
            config = with_sweep_defaults(Scenario.model_validate(config).model_dump(mode="json"))
            run_params = {**params, "devices.count": n}
            tasks.append(RunTask(run_key(config), i, rep, seed, run_params, config))
        current[i], got[i] = (n, tasks), {}
        for t in tasks:
            waiting.setdefault(t.key, []).append(i)
        return tasks

    def then(record: dict[str, Any]) -> list[RunTask]:
        """Give ``record`` to the points waiting for it; a point with all its repetitions in
        is evaluated, and its next count's runs (if its search goes on) are returned."""
        more: list[RunTask] = []
        for i in waiting.pop(record["key"], []):
            got[i][record["key"]] = record
            n, tasks = current[i]
            if len(got[i]) < len({t.key for t in tasks}):
                continue
            passed = _evaluate(entries[i], n, [got[i][t.key] for t in tasks], slos)
            try:
                more += tasks_for(i, searches[i].send(passed))
            except StopIteration as stop:
                lo, hi = stop.value
                e = entries[i]
                e.capacity, e.lower, e.upper = lo, lo, hi
                e.capped = hi > max_devices
                e.capacity_requests_per_s = _rate_at(e, lo)
                del current[i]
        return more

    first = [t for i, s in enumerate(searches) for t in tasks_for(i, next(s))]
    run_tasks(first, store, executor, on_result=on_result, then=then)
    if current:  # every search ends when its last count is evaluated
        raise RuntimeError(f"capacity: searches of points {sorted(current)} did not finish")
    return entries


def _rate_at(entry: CapacityEntry, n: int) -> float | None:
    """Mean request throughput of the evaluated count ``n`` (None if not finite or absent)."""
    for ev in entry.evaluations:
        if ev["devices"] == n:
            rate = ev[REQUEST_RATE]
            return rate if math.isfinite(rate) else None
    return None


def _evaluate(
    entry: CapacityEntry, n: int, records: list[dict[str, Any]], slos: Sequence[SLO]
) -> bool:
    """Record the runs of count ``n`` in ``entry``; True when every SLO's mean is met."""
    ok = all(r["status"] == "ok" for r in records)
    metrics: dict[str, dict[str, Any]] = {}
    passed = ok
    for slo in slos:
        vals = np.array(
            [flatten_summary(r.get("summary")).get(slo.metric, math.nan) for r in records]
        )
        finite = vals[np.isfinite(vals)]
        mean = float(finite.mean()) if finite.size == vals.size and vals.size else math.nan
        metrics[slo.metric] = {
            "mean": mean,
            "std": float(vals.std(ddof=1)) if vals.size > 1 else math.nan,
            "ci95": ci95_half_width(vals),
            "values": vals.tolist(),
        }
        passed = passed and slo.met(mean)
    rates = np.array(
        [flatten_summary(r.get("summary")).get(REQUEST_RATE, math.nan) for r in records]
    )
    entry.evaluations.append(
        {
            "devices": n,
            "passed": passed,
            "metrics": metrics,
            REQUEST_RATE: float(rates.mean()) if rates.size else math.nan,
        }
    )
    for r in records:
        summary = flatten_summary(r.get("summary"))
        entry.runs.append(
            {
                "key": r["key"],
                "devices": n,
                "rep": r["rep"],
                "seed": r["seed"],
                "status": r["status"],
                "error": r.get("error"),
                "metrics": {s.metric: summary.get(s.metric) for s in slos},
            }
        )
    log.info("%s devices=%d: %s", entry.params, n, "pass" if passed else "fail")
    return passed


def repetition_capacities(
    entry: Mapping[str, Any], slos: Sequence[SLO]
) -> list[tuple[int, int | None]]:
    """Per repetition r, the bracket ``(lower_r, upper_r)`` of r's own capacity.

    An entry stores, for every count the search evaluated, each repetition's SLO metrics
    (``evaluations[].metrics[m].values``, in repetition order; a failed run is null). The
    search followed the mean, so only those counts are known for a single repetition: r's
    first failing evaluated count is ``upper_r`` (None when r met every SLO at every evaluated
    count: its capacity is at least ``lower_r``, bound unknown), and ``lower_r`` is the largest
    evaluated count below it (0 when r fails the first). r's capacity by the search's own rule
    lies in ``[lower_r, upper_r)``; the spread of these brackets over repetitions is the
    uncertainty of the capacity from the seeds alone (the bracket of the mean is separate).
    """
    evals = sorted(entry.get("evaluations") or [], key=lambda e: e["devices"])
    if not evals:
        return []
    n_reps = max(len(m["values"]) for e in evals for m in e["metrics"].values())
    out: list[tuple[int, int | None]] = []
    for r in range(n_reps):
        lower, upper = 0, None
        for e in evals:
            ok = True
            for slo in slos:
                values = e["metrics"].get(slo.metric, {}).get("values") or []
                v = values[r] if r < len(values) else None
                ok = ok and slo.met(math.nan if v is None else float(v))
            if not ok:
                upper = e["devices"]
                break
            lower = e["devices"]
        out.append((lower, upper))
    return out


def write_capacity(
    out_dir: Path,
    entries: Sequence[CapacityEntry],
    *,
    scenario: str,
    slos: Sequence[SLO],
    repetitions: int,
) -> Path:
    """DIR/capacity.json: the search settings and one entry per axis value (atomic write)."""
    path = out_dir / "capacity.json"
    with atomic_path(path) as tmp:
        dump_json(
            {
                "scenario": scenario,
                "slos": [str(s) for s in slos],
                "repetitions": repetitions,
                "rule": "capacity = largest devices.count whose mean over repetitions meets "
                "every SLO; lower = capacity, upper = smallest failing count; "
                "capacity_requests_per_s = mean request_throughput_per_s of the runs at the "
                "capacity",
                "entries": [e.to_json() for e in entries],
            },
            tmp,
        )
    return path
