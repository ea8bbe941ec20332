"""How the validation runs: settings, statistics over seeds, the runner, the traces.

Every interval is a Student-t 95 % confidence interval over seeds (``ci95_half_width`` of
:mod:`cuhlm_sim.experiments.results`); seeds come from the base seed like a sweep's
repetitions (:func:`~cuhlm_sim.experiments.sweep.plan.derived_seeds`), so the same seeds serve
a scheme and its HLM baseline (common random numbers: ratios are formed per seed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cuhlm_sim.config import load_scenario
from cuhlm_sim.config.build import load_scenario_trace
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.results import ci95_half_width
from cuhlm_sim.experiments.sweep.plan import derived_seeds
from cuhlm_sim.runner import run_scenario
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.io import write_trace
from cuhlm_sim.traces.synth import SynthParams, synth_table

NOT_AVAILABLE = "real trace not available yet"


@dataclass(frozen=True)
class Settings:
    """How much to simulate. ``duration_s = None`` keeps each scenario's own duration; the
    closed-form cases run their own length and seeds (the table's) unless capped."""

    seeds: int = 10
    duration_s: float | None = None
    warmup_s: float | None = None
    snr_grid: tuple[float, ...] = (-10.0, 0.0, 10.0, 20.0, 30.0)
    snr_seeds: int = 10
    closed_duration_cap_s: float | None = None
    closed_seeds_cap: int | None = None
    synth_rows: int = 50_000
    base_seed: int = 0


#: Tiny settings for the test suite (seconds, not minutes).
QUICK = Settings(
    seeds=2,
    duration_s=20.0,
    warmup_s=2.0,
    snr_grid=(-10.0, 30.0),
    snr_seeds=2,
    closed_duration_cap_s=100.0,
    closed_seeds_cap=2,
    synth_rows=4000,
)


@dataclass
class Stat:
    """Values over seeds; mean and Student-t 95 % half-width."""

    values: list[float]

    @classmethod
    def of(cls, values: Sequence[Any]) -> Stat:
        return cls([math.nan if v is None else float(v) for v in values])

    @property
    def arr(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)

    @property
    def mean(self) -> float:
        a = self.arr[~np.isnan(self.arr)]
        return float(a.mean()) if a.size else math.nan

    @property
    def half(self) -> float:
        a = self.arr[~np.isnan(self.arr)]
        if a.size < 2:
            return math.nan
        if np.all(a == a[0]):
            return 0.0
        return ci95_half_width(a)

    @property
    def n(self) -> int:
        return int((~np.isnan(self.arr)).sum())


def fmt(value: float, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "pct":
        return f"{100 * value:.1f} %"
    if unit == "pct2":
        return f"{100 * value:.2f} %"
    if unit == "x":
        return f"{value:.2f}×"
    if unit == "tps":
        return f"{value:.3f} tok/s"
    if unit == "j":
        return f"{value:.3f} J"
    if unit == "s":
        return f"{value:.4g} s"
    if unit == "bits":
        return f"{value:,.0f} bit"
    return f"{value:.4g}"


def fmt_stat(stat: Stat | None, unit: str) -> str:
    if stat is None or stat.n == 0:
        return "n/a"
    m, h = stat.mean, stat.half
    if not math.isfinite(h):
        return fmt(m, unit)
    if unit in ("pct", "pct2"):
        digits = 2 if unit == "pct2" else 1
        return f"{100 * m:.{digits}f} ± {100 * h:.{digits}f} %"
    if unit == "x":
        return f"{m:.2f}× ± {h:.2f}"
    if unit == "tps":
        return f"{m:.3f} ± {h:.3f} tok/s"
    if unit == "j":
        return f"{m:.3f} ± {h:.3f} J"
    if unit == "s":
        return f"{m:.4g} ± {h:.2g} s"
    return f"{m:.4g} ± {h:.2g}"


@dataclass
class Runner:
    """Loads scenarios, caches traces, runs seeds; counts runs for the report."""

    settings: Settings
    scenarios: Path  # the folder of the paper scenarios
    runs: int = 0
    _traces: dict[str, TraceArrays] = field(default_factory=dict)

    def _trace(self, scn: Scenario) -> TraceArrays:
        key = json.dumps(scn.trace.model_dump(mode="json"), sort_keys=True)
        if key not in self._traces:
            self._traces[key] = load_scenario_trace(scn)
        return self._traces[key]

    def seeds(self, n: int) -> list[int]:
        return derived_seeds(self.settings.base_seed, n)

    def durations(self) -> list[str]:
        s = self.settings
        out = []
        if s.duration_s is not None:
            out.append(f"duration_s={s.duration_s:g}")
        if s.warmup_s is not None:
            out.append(f"warmup_s={s.warmup_s:g}")
        return out

    def file(self, path: Path, overrides: Sequence[str], n_seeds: int) -> list[dict[str, Any]]:
        """Summaries of ``path`` with ``overrides`` (``key=value``), one per seed."""
        out = []
        for seed in self.seeds(n_seeds):
            scn = load_scenario(path, [*self.durations(), *overrides], seed=seed)
            out.append(self.scenario(scn))
        return out

    def scenario(self, scn: Scenario) -> dict[str, Any]:
        self.runs += 1
        return run_scenario(scn, trace=self._trace(scn)).summary

    def vocab(self, path: Path, overrides: Sequence[str]) -> int:
        """|V| of the trace a scenario replays (not the payload's |V|)."""
        return int(self._trace(load_scenario(path, overrides)).vocab_size)

    def config(self, data: dict[str, Any], n_seeds: int) -> list[dict[str, Any]]:
        out = []
        for seed in self.seeds(n_seeds):
            scn = Scenario.model_validate({**data, "seed": seed})
            out.append(self.scenario(scn))
        return out


def metric(runs: Sequence[dict[str, Any]], key: str) -> Stat:
    return Stat.of([r.get(key) for r in runs])


def paired(
    a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], fn: Callable[[Any, Any], float]
) -> Stat:
    """Per-seed f(a_i, b_i) (common random numbers: same seeds in both lists)."""
    return Stat.of([fn(x, y) for x, y in zip(a, b, strict=True)])


def ratio(key: str) -> Callable[[dict[str, Any], dict[str, Any]], float]:
    def f(x: dict[str, Any], y: dict[str, Any]) -> float:
        return _num(x.get(key)) / _num(y.get(key))

    return f


def saving(key: str) -> Callable[[dict[str, Any], dict[str, Any]], float]:
    def f(x: dict[str, Any], y: dict[str, Any]) -> float:
        return 1.0 - _num(x.get(key)) / _num(y.get(key))

    return f


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    v = float(v)
    return v if v != 0 else math.nan


@dataclass(frozen=True)
class TraceSpec:
    label: str  # shown in the table
    override: str | None  # trace.path=... ; None = not available
    shown: str  # how the override is written in the table


def synthetic_trace(tmp: Path, name: str, a: float, b: float, rows: int) -> TraceSpec:
    """The paper's linear rejection model β = a·u + b on the synthetic trace, |V| = 32,000."""
    params = SynthParams(num_rows=rows, rejection_a=a, rejection_b=b, vocab_size=32_000)
    table, meta = synth_table(params, seed=0)
    path = tmp / f"synth-{name}.parquet"
    write_trace(table, path, meta)
    return TraceSpec(
        f"synthetic (a = {a:g}, b = {b:g})",
        f"trace.path={path}",
        f"`trace.path=<synth a={a:g} b={b:g}>`",
    )


def real_trace_spec(path: Path | None, root: Path) -> TraceSpec:
    """The real trace, shown relative to ``root`` (the checkout) when it lies inside."""
    if path is None or not _trace_present(path):
        return TraceSpec("real (Qwen2.5-Coder 0.5B→1.5B)", None, "—")
    try:
        shown = path.resolve().relative_to(root)
    except ValueError:
        shown = path
    return TraceSpec(
        "real (Qwen2.5-Coder 0.5B→1.5B)", f"trace.path={path.resolve()}", f"`trace.path={shown}`"
    )


def _trace_present(path: Path) -> bool:
    if path.is_file():
        return True
    return path.is_dir() and any(path.glob("*.parquet"))
