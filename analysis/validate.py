"""Validation against the papers and against closed forms (issue 7) -> analysis/validation.md.

Run it with ``make validate`` (or ``.venv/bin/python analysis/validate.py``). It

1. runs each paper scenario (``scenarios/uhlm_paper.yaml``, ``cuhlm_paper.yaml``,
   ``energy_aware.yaml``) with two traces: a synthetic trace drawn from the paper's linear
   rejection model (written to a temporary folder) and the real trace
   ``traces/qwen-coder-0.5b-1.5b.parquet`` when it exists, over several seeds, together with the
   matching HLM baseline (same scenario, ``policy.kind=hlm``, same seeds, so ratios are paired);
2. sweeps the SNR for the U-HLM and CU-HLM set-ups to show the gain trend towards 1/TR;
3. checks closed forms (single-device throughput, GPU saturation, M/D/1, Little's law, Shannon
   rate, the gain bound, the single-device energy account).

Every interval is a Student-t 95 % confidence interval over seeds (``ci95_half_width`` of
``cuhlm_sim.experiments.results``). Nothing here is fitted to a paper's number: parameters come
from the scenario files, whose headers say which values are SEC and which ASM
(``docs/theory.md``). The output is generated; never edit it by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cuhlm_sim.atomic import atomic_write_text
from cuhlm_sim.config import load_scenario
from cuhlm_sim.config.build import load_scenario_trace
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.results import ci95_half_width
from cuhlm_sim.experiments.sweep import derived_seeds
from cuhlm_sim.runner import run_scenario
from cuhlm_sim.traces.arrays import TraceArrays
from cuhlm_sim.traces.io import write_trace
from cuhlm_sim.traces.synth import SynthParams, synth_table

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
REAL_TRACE = ROOT / "traces" / "qwen-coder-0.5b-1.5b.parquet"
#: Closed-loop accuracy of the real pair (``cuhlm accuracy``; rendered when present).
ACCURACY_TABLE = ROOT / "accuracy" / "qwen-coder-0.5b-1.5b.parquet"
DEFAULT_OUT = ROOT / "analysis" / "validation.md"
NOT_AVAILABLE = "real trace not available yet"
COMMAND = "`make validate` (i.e. `.venv/bin/python analysis/validate.py`)"


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How much to simulate. ``duration_s = None`` keeps each scenario's own duration."""

    seeds: int = 10
    duration_s: float | None = None
    warmup_s: float | None = None
    snr_grid: tuple[float, ...] = (-10.0, 0.0, 10.0, 20.0, 30.0)
    snr_seeds: int = 10
    md1_durations_s: tuple[float, float] = (3000.0, 6000.0)
    md1_seeds: int = 3
    closed_duration_s: float = 1000.0
    synth_rows: int = 50_000
    base_seed: int = 0


#: Tiny settings for the test suite (seconds, not minutes).
QUICK = Settings(
    seeds=2,
    duration_s=20.0,
    warmup_s=2.0,
    snr_grid=(-10.0, 30.0),
    snr_seeds=2,
    md1_durations_s=(100.0, 100.0),
    md1_seeds=2,
    closed_duration_s=40.0,
    synth_rows=4000,
)


# --- statistics -------------------------------------------------------------------------------


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


# --- running ----------------------------------------------------------------------------------


@dataclass
class Runner:
    """Loads scenarios, caches traces, runs seeds; counts runs for the report."""

    settings: Settings
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


# --- traces -----------------------------------------------------------------------------------


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


def real_trace_spec(path: Path | None) -> TraceSpec:
    if path is None or not _trace_present(path):
        return TraceSpec("real (Qwen2.5-Coder 0.5B→1.5B)", None, "—")
    try:
        shown = path.resolve().relative_to(ROOT)
    except ValueError:
        shown = path
    return TraceSpec(
        "real (Qwen2.5-Coder 0.5B→1.5B)", f"trace.path={path.resolve()}", f"`trace.path={shown}`"
    )


def _trace_present(path: Path) -> bool:
    if path.is_file():
        return True
    return path.is_dir() and any(path.glob("*.parquet"))


# --- paper tables -----------------------------------------------------------------------------


@dataclass
class ClaimRow:
    paper: str
    claim: str
    paper_value: str
    trace: str
    ours: Stat | None
    unit: str
    scenario: str
    gap: str
    missing: str | None = None

    def cells(self) -> list[str]:
        ours = self.missing if self.missing else fmt_stat(self.ours, self.unit)
        return [
            self.claim,
            self.paper_value,
            self.trace,
            ours,
            self.scenario,
            "—" if self.missing else self.gap,
        ]


@dataclass
class SnrRow:
    paper: str
    trace: str
    snr_db: float
    hlm_tps: Stat
    scheme_tps: Stat
    gain: Stat
    skip_rate: Stat
    bound_tr: float  # 1/TR
    bound_trc: float  # 1/(TR·c)
    exact: float  # (τ + X_HLM) / (τ + TR·X_scheme)


@dataclass
class ClosedRow:
    check: str
    formula: str
    setup: str
    expected: float
    simulated: Stat
    unit: str

    @property
    def rel_error(self) -> float:
        return (self.simulated.mean - self.expected) / self.expected


@dataclass
class Report:
    settings: Settings
    real_trace: str | None
    claims: list[ClaimRow]
    snr: list[SnrRow]
    closed: list[ClosedRow]
    notes: list[str]
    runs: int
    wall_s: float


def _scn(file: str, overrides: Sequence[str], trace: TraceSpec) -> str:
    parts = [f"`{o}`" for o in overrides] + [trace.shown]
    return f"`scenarios/{file}`" + (" + " + ", ".join(parts) if parts else "")


def _airtime(bits: float, bandwidth_hz: float, snr_db: float) -> float:
    return bits / (bandwidth_hz * math.log2(1.0 + 10 ** (snr_db / 10)))


def _hlm_overrides(file: str) -> list[str]:
    extra = ["policy.truncation_k=null"] if file == "cuhlm_paper.yaml" else []
    return ["policy.kind=hlm", *extra]


def run_uhlm(r: Runner, traces: Sequence[TraceSpec], rows: list[ClaimRow], snr: list[SnrRow]):
    file, paper = "uhlm_paper.yaml", "U-HLM"
    path = SCENARIOS / file
    n = r.settings.seeds
    for t in traces:
        if t.override is None:
            _placeholders(rows, paper, t)
            continue
        scheme = r.file(path, [t.override], n)
        hlm = r.file(path, [*_hlm_overrides(file), t.override], n)
        sr = metric(scheme, "skip_rate")
        real = t.label.startswith("real")
        rows += [
            ClaimRow(
                paper,
                "Uplink / LLM calls saved vs HLM (= skip rate)",
                "45.93 % (TR ≈ 54 %)",
                t.label,
                sr,
                "pct",
                _scn(file, [], t),
                "Skip rate = F_U(u_th): set by the distribution of u, which the paper does not "
                "report. "
                + (
                    "Our pair (Qwen2.5-Coder 0.5B→1.5B) has its own u distribution and its own "
                    "a, b, while u_th = 0.073 is the paper's (TinyLlama→Llama-2-7B); see the "
                    "refit row. "
                    if real
                    else "The synthetic Beta mixture for u is ASM; only a, b are the paper's. "
                )
                + "45.93 % may be an average over prompts or thresholds (docs/theory.md §11).",
            ),
            ClaimRow(
                paper,
                "True-skip rate (skipped tokens the LLM accepts)",
                "not stated (risk-averse u_th ⇒ ≈ 100 % by design)",
                t.label,
                metric(scheme, "true_skip_rate"),
                "pct",
                _scn(file, [], t),
                "Risk-averse u_th = −b/a skips only tokens with predicted β ≤ 0; the residual "
                "rejections are the scatter around the line "
                + (
                    "of the real trace."
                    if real
                    else "(synthetic σ = 0.05, ASM). CIRCULAR on the synthetic trace: its "
                    "acceptance is drawn from the same a·u + b line that sets u_th, so ≈ 100 % "
                    "holds by construction and confirms nothing about the paper."
                ),
            ),
            ClaimRow(
                paper,
                "Throughput gain vs HLM at the scenario SNR (17 dB)",
                "up to 2.54× (at low SNR only)",
                t.label,
                paired(scheme, hlm, ratio("throughput_tokens_per_s")),
                "x",
                _scn(file, [], t) + " vs `policy.kind=hlm`",
                "At 17 dB the 736 kbit payload takes only "
                f"{1e3 * _airtime(736_000, 10e6, 17):.0f} ms: the gain comes from skipping the "
                "LLM verification (208 ms, ASM) while the SLM time (82 ms, ASM) is paid on every "
                "token, G = (τ + X)/(τ + TR·X). The paper gives no latencies; with a faster LLM "
                "the gain at high SNR would be smaller.",
            ),
            ClaimRow(
                paper,
                "Replay accuracy proxy: skipped rejections per token (skip_error_rate)",
                "— (paper: 97.54 % of LLM cosine accuracy; not comparable)",
                t.label,
                metric(scheme, "skip_error_rate"),
                "pct2",
                _scn(file, [], t),
                "Accuracy needs decoded text and an embedding model (offline, §8); this is "
                "the share of tokens where the final text departs from the LLM's choice.",
            ),
        ]
        low = _snr_sweep(r, paper, file, t, snr)
        rows.append(
            ClaimRow(
                paper,
                f"Throughput gain vs HLM, lowest SNR swept ({low.snr_db:g} dB)",
                "up to 2.54× (low SNR; needs SR ≥ 60.6 %, §11)",
                t.label,
                low.gain,
                "x",
                _scn(file, [f"channel.snr_db={low.snr_db:g}"], t) + " vs `policy.kind=hlm`",
                f"Bounded by 1/TR = {low.bound_tr:.2f}× at our SR; the paper's own 45.93 % caps "
                "it at 1.85×, so its 2.54× needs SR ≥ 60.6 % (another operating point, §11). "
                "A match here follows from our SR and ASM latencies, not from the paper's SR. "
                "The gain stays below 1/TR because the SLM time is paid on every token.",
            )
        )
        if "real" in t.label:
            _refit_row(r, paper, file, t, rows)


REFIT_CLAIM = "Skip rate with the paper's rule refit on our trace: u_th = −b̂/â"


def _placeholders(rows: list[ClaimRow], paper: str, t: TraceSpec) -> None:
    """The trace is missing: the same claims as the first trace's rows, marked as such."""
    done = [c for c in rows if c.paper == paper]
    claims = [c.claim for c in done if c.trace == done[0].trace] if done else []
    extra = {"U-HLM": [(REFIT_CLAIM, "45.93 %")]}.get(paper, []) if "real" in t.label else []
    pv = {c.claim: c.paper_value for c in done}
    for claim, value in [(c, pv[c]) for c in claims] + extra:
        rows.append(ClaimRow(paper, claim, value, t.label, None, "", "—", "", NOT_AVAILABLE))


def _refit_row(r: Runner, paper: str, file: str, t: TraceSpec, rows: list[ClaimRow]) -> None:
    """Real trace: the paper's risk-averse rule u_th = −b̂/â with our own fit (not tuning)."""
    from cuhlm_sim.traces.fit import fit_trace

    path = Path(t.override.split("=", 1)[1])
    fit = fit_trace(path)["all"]
    u_th = float(min(1.0, max(0.0, fit.u_th_averse)))
    over = f"policy.threshold={u_th:.4f}"
    runs = r.file(SCENARIOS / file, [over, t.override], r.settings.seeds)
    rows.append(
        ClaimRow(
            paper,
            f"{REFIT_CLAIM} = {u_th:.3f} (â = {fit.a:.3f}, b̂ = {fit.b:.3f}, R² = {fit.r2:.2f})",
            "45.93 %",
            t.label,
            metric(runs, "skip_rate"),
            "pct",
            _scn(file, [over], t),
            "Same rule as the paper (u_th = −b/a, §4) with a and b fitted on our all-transmit "
            "trace; true-skip rate here "
            f"{fmt_stat(metric(runs, 'true_skip_rate'), 'pct')}.",
        )
    )


def _snr_sweep(r: Runner, paper: str, file: str, t: TraceSpec, out: list[SnrRow]) -> SnrRow:
    path = SCENARIOS / file
    scn0 = load_scenario(path)
    tau = scn0.devices.slm_latency_s + scn0.devices.uncertainty_latency_s
    llm, dl = scn0.server.llm_latency_s, scn0.downlink.latency_s
    w = scn0.uplink.bandwidth_hz
    lowest = None
    for snr_db in r.settings.snr_grid:
        over = [f"channel.snr_db={snr_db:g}", t.override]
        scheme = r.file(path, over, r.settings.snr_seeds)
        hlm = r.file(path, [*_hlm_overrides(file), *over], r.settings.snr_seeds)
        tr = metric(scheme, "transmission_rate").mean
        bits_s = metric(scheme, "uplink_bits_per_transmission").mean
        bits_h = metric(hlm, "uplink_bits_per_transmission").mean
        c = bits_s / bits_h
        x_h = _airtime(bits_h, w, snr_db) + llm + dl
        x_s = _airtime(bits_s, w, snr_db) + llm + dl
        row = SnrRow(
            paper,
            t.label,
            snr_db,
            metric(hlm, "throughput_tokens_per_s"),
            metric(scheme, "throughput_tokens_per_s"),
            paired(scheme, hlm, ratio("throughput_tokens_per_s")),
            metric(scheme, "skip_rate"),
            1.0 / tr,
            1.0 / (tr * c),
            (tau + x_h) / (tau + tr * x_s),
        )
        out.append(row)
        if lowest is None or snr_db < lowest.snr_db:
            lowest = row
    assert lowest is not None
    return lowest


def run_cuhlm(r: Runner, traces: Sequence[TraceSpec], rows: list[ClaimRow], snr: list[SnrRow]):
    file, paper = "cuhlm_paper.yaml", "CU-HLM"
    path = SCENARIOS / file
    n = r.settings.seeds
    online = ["policy.truncation_k=null", "policy.tv_budget=0.1"]
    for t in traces:
        if t.override is None:
            _placeholders(rows, paper, t)
            continue
        scheme = r.file(path, [t.override], n)
        onl = r.file(path, [*online, t.override], n)
        hlm = r.file(path, [*_hlm_overrides(file), t.override], n)
        real = t.label.startswith("real")
        v = r.vocab(path, [t.override])
        k_on = metric(onl, "mean_truncation_k")
        rows += [
            ClaimRow(
                paper,
                "Skip rate (uplink / LLM calls saved)",
                "74.8 %",
                t.label,
                metric(scheme, "skip_rate"),
                "pct",
                _scn(file, [], t),
                "F_U(u_th) depends on the u distribution, which the paper does not report "
                + (
                    "(our real pair differs from TinyLlama→Llama-2-7B). "
                    if real
                    else "(synthetic mixture ASM). "
                )
                + "CU-HLM's u_th = 0.081 is close to U-HLM's 0.073, yet the papers report "
                "74.8 % vs 45.93 %: different prompts or averaging.",
            ),
            ClaimRow(
                paper,
                "True-skip rate",
                "not stated",
                t.label,
                metric(scheme, "true_skip_rate"),
                "pct",
                _scn(file, [], t),
                "Risk-averse threshold: skipped tokens are accepted unless the trace scatters "
                "above the line."
                + (
                    ""
                    if real
                    else " CIRCULAR on the synthetic trace (acceptance drawn from the line "
                    "that sets u_th): true by construction."
                ),
            ),
            ClaimRow(
                paper,
                "Rejection rate of verified tokens: against the top-30 draft / untruncated",
                "not stated",
                t.label,
                metric(scheme, "rejection_rate"),
                "pct",
                _scn(file, [], t),
                "Verification against the truncated draft p̂_k rejects less than the exact "
                f"test would ({fmt_stat(metric(scheme, 'exact_rejection_rate'), 'pct')} "
                "had the LLM verified the full p, `exact_rejection_rate`): fewer rejections "
                "are not free, the output law moves away from the LLM's (the TV row below, "
                "real trace).",
            ),
            ClaimRow(
                paper,
                "Replay accuracy proxy: skipped rejections per token (skip_error_rate)",
                "— (no accuracy figure comparable)",
                t.label,
                metric(scheme, "skip_error_rate"),
                "pct2",
                _scn(file, [], t),
                "The price of CU-HLM's skips: the share of tokens where a skipped draft would "
                "have been rejected (the truncation's own price is the row above).",
            ),
            ClaimRow(
                paper,
                "Payload compression 1 − B(k)/B(|V|), offline k* = 30",
                "97.4 %",
                t.label,
                metric(scheme, "payload_compression"),
                "pct2",
                _scn(file, [], t),
                f"By construction 1 − 30/32,000 = {100 * (1 - 30 / 32_000):.2f} % (k* = 30 is "
                "SEC; payload |V| = 32,000). "
                "97.4 % implies k̄ ≈ 832 ≫ 30 (§11): the abstract's compression comes from "
                "another operating point or definition.",
            ),
            ClaimRow(
                paper,
                f"Vocabulary compression 1 − k̄/|V| (|V| = {v:,}, the trace's), online k "
                "(θ_TV = 0.1, ASM)",
                "97.4 %",
                t.label,
                Stat.of([1.0 - k / v for k in k_on.values]),
                "pct2",
                _scn(file, online, t),
                f"Mean online k̄ = {fmt_stat(k_on, '')} entries; k_t from U_TV(k) ≤ θ_TV "
                "(CU eq. 26) on the trace's top-k columns. θ_TV is not stated by the paper "
                "(DuoDecoding's 0.1, ASM) and the tail shape of p_t sets k̄ "
                + ("(real Qwen distributions)." if real else "(synthetic power law, ASM)."),
            ),
            ClaimRow(
                paper,
                "Payload compression 1 − B(k)/B(|V|), online k (θ_TV = 0.1)",
                "97.4 %",
                t.label,
                metric(onl, "payload_compression"),
                "pct2",
                _scn(file, online, t),
                "Same runs as the row above, in uplink bits against the papers' 32,000-entry "
                "payload (indexed, B(k) = 23·k; a token with k ≥ 32,000 costs the full payload)."
                if real
                else "Same runs as the row above, "
                "measured in uplink bits (indexed encoding, B(k) = 23·k).",
            ),
            ClaimRow(
                paper,
                "Throughput gain vs HLM at the scenario SNR (17 dB), k* = 30",
                "up to 206× (best case)",
                t.label,
                paired(scheme, hlm, ratio("throughput_tokens_per_s")),
                "x",
                _scn(file, [], t) + " vs `policy.kind=hlm`",
                "At 17 dB the HLM payload needs only "
                f"{1e3 * _airtime(736_000, 10e6, 17):.0f} ms, so truncation adds almost nothing "
                "to U-HLM's gain: SLM and LLM times (ASM) dominate the token time.",
            ),
        ]
        if all(x.get("output_tv_distance") is not None for x in scheme):  # needs topk_tv_out
            rows.append(
                ClaimRow(
                    paper,
                    "Quality cost of truncation: TV(output law, q) per verified token, k* = 30",
                    "not stated (the paper bounds it, CU eq. 26)",
                    t.label,
                    metric(scheme, "output_tv_distance"),
                    "pct2",
                    _scn(file, [], t),
                    "Mean over transmitted tokens of the trace's `topk_tv_out` at k = 30 "
                    "(`output_tv_distance`): 0 would mean the HLM output is distributed exactly "
                    "as the LLM's. Measured on the real pair's full distributions; the synthetic "
                    "trace has no `topk_tv_out` column, so it has no such row.",
                )
            )
        low = _snr_sweep(r, paper, file, t, snr)
        tau = 0.082
        cap = (tau + _airtime(736_000, 10e6, low.snr_db) + 0.208) / tau
        rows.append(
            ClaimRow(
                paper,
                f"Throughput gain vs HLM, lowest SNR swept ({low.snr_db:g} dB), k* = 30",
                "up to 206× (§11: > its own bound ≈ 153×)",
                t.label,
                low.gain,
                "x",
                _scn(file, [f"channel.snr_db={low.snr_db:g}"], t) + " vs `policy.kind=hlm`",
                f"1/(TR·c) = {low.bound_trc:,.0f}× is the uplink-only bound, but the SLM time "
                "per token (82 ms, ASM; every token pays it) caps the gain at "
                f"(τ_slm + T_HLM)/τ_slm = {cap:.1f}×. 206× needs τ_slm, τ_llm ≪ B/R; the paper "
                "gives neither latency, and 206× exceeds 1/(TR·c) ≈ 153× for its own TR, c.",
            )
        )
        fast = ["channel.snr_db=-10", "devices.slm_latency_s=0.001", "server.llm_latency_s=0.001"]
        sch_f = r.file(path, [*fast, t.override], n)
        hlm_f = r.file(path, [*_hlm_overrides(file), *fast, t.override], n)
        tr = metric(sch_f, "transmission_rate").mean
        c = metric(sch_f, "payload_compression").mean
        x_h = _airtime(736_000, 10e6, -10) + 0.001
        x_s = _airtime(736_000 * (1 - c), 10e6, -10) + 0.001
        rows.append(
            ClaimRow(
                paper,
                "Throughput gain vs HLM, uplink-dominated limit (−10 dB, τ_slm = τ_llm = 1 ms)",
                "up to 206×",
                t.label,
                paired(sch_f, hlm_f, ratio("throughput_tokens_per_s")),
                "x",
                _scn(file, fast, t) + " vs `policy.kind=hlm`",
                "A sensitivity run, not a fit: with both model times ≪ B/R the gain follows "
                f"(τ + X_HLM)/(τ + TR·X) = {(0.001 + x_h) / (0.001 + tr * x_s):.0f}× and "
                f"reaches 1/(TR·c) = {1 / (tr * (1 - c)):,.0f}× only as τ → 0. Whether 206× "
                "is reached depends on latencies the paper does not state.",
            )
        )


def run_energy(r: Runner, traces: Sequence[TraceSpec], rows: list[ClaimRow]):
    file, paper = "energy_aware.yaml", "IU-HLM (2508.12590)"
    path = SCENARIOS / file
    n = r.settings.seeds
    for t in traces:
        if t.override is None:
            _placeholders(rows, paper, t)
            continue
        ihlm = r.file(path, [t.override], n)
        uhlm = r.file(path, ["policy.kind=uhlm", t.override], n)
        hlm = r.file(path, ["policy.kind=hlm", t.override], n)
        hlm_tps = metric(hlm, "throughput_tokens_per_s").mean
        sr_i = metric(ihlm, "skip_rate").mean
        tps_i = metric(ihlm, "throughput_tokens_per_s").mean
        air = _airtime(512_000, 0.2e6, 0.0)
        e_cmp = 5.0 * 0.2
        e_hlm = metric(hlm, "device_energy_per_token_j").mean
        rows += [
            ClaimRow(
                paper,
                "IU-HLM throughput",
                "0.37 tok/s (best accuracy); 0.40 tok/s (vs U-HLM)",
                t.label,
                metric(ihlm, "throughput_tokens_per_s"),
                "tps",
                _scn(file, [], t),
                f"The weak link (ASM: 0.2 MHz, 0 dB, FP16 dense 512 kbit → {air:.2f} s airtime) "
                f"reproduces the paper's ~2.7 s per *verified* token: our HLM runs at "
                f"{hlm_tps:.3f} tok/s. Skipping {100 * sr_i:.0f} % of tokens lifts IU-HLM to "
                f"{tps_i:.2f} tok/s; the paper's near-equal rates for all schemes imply a "
                "per-token cost that skipping does not remove (e.g. on-device attention or "
                "uncertainty time, T_unc = 0 here) or far fewer skips.",
            ),
            ClaimRow(
                paper,
                "U-HLM throughput (same set-up)",
                "0.36 tok/s",
                t.label,
                metric(uhlm, "throughput_tokens_per_s"),
                "tps",
                _scn(file, ["policy.kind=uhlm"], t),
                "Same cause as the row above; the paper's U-HLM row is its own re-run, not a "
                "U-HLM-paper number (§11).",
            ),
            ClaimRow(
                paper,
                "Throughput ratio IU-HLM / U-HLM",
                "1.03× (0.37/0.36) – 1.11× (0.40/0.36) (DER)",
                t.label,
                paired(ihlm, uhlm, ratio("throughput_tokens_per_s")),
                "x",
                _scn(file, [], t) + " vs `policy.kind=uhlm`",
                "BY CONSTRUCTION: IU-HLM sends a subset of U-HLM's tokens (u > u_th AND "
                "I ≥ I_th), and the importance here is synthetic Beta(2, 5) (ASM), drawn "
                "independently of u, so IU-HLM ≥ U-HLM in throughput holds whatever the data; "
                "its price is the extra skip errors (see the accuracy-proxy rows).",
            ),
            ClaimRow(
                paper,
                "Replay accuracy proxy, IU-HLM vs U-HLM vs HLM (skip_error_rate)",
                "BERTScore 87.5 / 87.0 / 85.8 % (not comparable)",
                t.label,
                metric(ihlm, "skip_error_rate"),
                "pct2",
                _scn(file, [], t),
                "Skipped rejections per token: IU-HLM "
                f"{fmt_stat(metric(ihlm, 'skip_error_rate'), 'pct2')}, U-HLM "
                f"{fmt_stat(metric(uhlm, 'skip_error_rate'), 'pct2')}, HLM "
                f"{fmt_stat(metric(hlm, 'skip_error_rate'), 'pct2')}. The importance "
                "score is synthetic and independent of u, so IU-HLM's extra skips are not "
                "chosen for being harmless: the proxy rises with them.",
            ),
            ClaimRow(
                paper,
                "IU-HLM skip rate",
                "not stated",
                t.label,
                metric(ihlm, "skip_rate"),
                "pct",
                _scn(file, [], t),
                "u_th = 0.081 (CU-HLM's, ASM) and importance threshold 0.2 (ASM).",
            ),
            ClaimRow(
                paper,
                "IU-HLM device energy saving 1 − E_dev/E_dev,HLM",
                "40.7 % (best accuracy); 43.6 % (vs U-HLM)",
                t.label,
                paired(ihlm, hlm, saving("device_energy_per_token_j")),
                "pct",
                _scn(file, [], t) + " vs `policy.kind=hlm`",
                f"Drafting (5 W × 0.2 s = {e_cmp:.1f} J, ASM) is paid on every token; with "
                f"E_dev,HLM = {e_hlm:.3f} J the saving is capped at "
                f"{100 * (1 - e_cmp / e_hlm):.0f} % (SR → 1). The paper's energy account and "
                "powers are unknown (§6, structure ASM). One device alone on the band: both "
                "`uplink.power_model`s charge P_tx·B/R.",
            ),
            ClaimRow(
                paper,
                "IU-HLM system energy saving (device + GPU)",
                "40.7 % / 43.6 % (account unknown)",
                t.label,
                paired(ihlm, hlm, saving("system_energy_per_token_j")),
                "pct",
                _scn(file, [], t) + " vs `policy.kind=hlm`",
                "Includes 300 W × 0.2 s GPU energy per verification (ASM), which skipping "
                "removes in full, so this saving ≈ SR.",
            ),
            ClaimRow(
                paper,
                "U-HLM device energy saving (same set-up)",
                "31.6 %",
                t.label,
                paired(uhlm, hlm, saving("device_energy_per_token_j")),
                "pct",
                _scn(file, ["policy.kind=uhlm"], t) + " vs `policy.kind=hlm`",
                "Ordering IU-HLM > U-HLM matches the paper BY CONSTRUCTION (IU-HLM skips a "
                "superset of U-HLM's tokens with synthetic importance); the level depends on "
                "the ASM powers.",
            ),
        ]


# --- closed forms -----------------------------------------------------------------------------


def run_closed(r: Runner, synth: TraceSpec, rows: list[ClosedRow], snr: Sequence[SnrRow]):
    s = r.settings
    dur = [f"duration_s={s.closed_duration_s:g}", "warmup_s=5"]
    path = SCENARIOS / "uhlm_paper.yaml"
    file = "uhlm_paper.yaml"
    bits = 32_000 * (8 + 15)

    # 1. single-device HLM throughput
    over = ["policy.kind=hlm", "downlink.latency_s=0.01", *dur]
    runs = _closed_file(r, path, [*over, synth.override])
    t_tok = 0.082 + _airtime(bits, 10e6, 17.0) + 0.208 + 0.01
    rows.append(
        ClosedRow(
            "Single-device HLM throughput",
            "1 / (τ_slm + B/R + τ_llm + τ_dl), B = 32,000·23 bit, R = W log2(1 + SNR)",
            _scn(file, over, synth),
            1.0 / t_tok,
            metric(runs, "throughput_tokens_per_s"),
            "tps",
        )
    )

    # 2. Shannon rate: mean airtime at two SNRs
    for snr_db in (0.0, 17.0):
        over = ["policy.kind=hlm", f"channel.snr_db={snr_db:g}", *dur]
        runs = _closed_file(r, path, [*over, synth.override])
        rows.append(
            ClosedRow(
                f"Shannon rate: airtime at {snr_db:g} dB",
                "B / (W log2(1 + SNR)), W = 10 MHz",
                _scn(file, over, synth),
                _airtime(bits, 10e6, snr_db),
                metric(runs, "mean_airtime_s"),
                "s",
            )
        )

    base: dict[str, Any] = {"warmup_s": 5.0, "trace": {"path": None}}

    # 3. GPU saturation
    cfg = {
        **base,
        "duration_s": min(300.0, s.closed_duration_s),
        "devices": {"count": 20},
        "policy": {"kind": "llm_only"},
        "server": {"gpus": 2, "llm_latency_s": 0.05, "max_batch": 1},
    }
    rows.append(
        ClosedRow(
            "GPU saturation (closed loop, 20 devices, 2 GPUs)",
            "throughput → gpus / τ_llm = 2 / 0.05 s",
            "dict: llm_only, devices.count=20, server.gpus=2, llm_latency_s=0.05, max_batch=1",
            2 / 0.05,
            metric(r.config(cfg, 2), "throughput_tokens_per_s"),
            "tps",
        )
    )

    # 4. M/D/1 mean wait
    tau = 0.01
    for rho, duration in zip((0.5, 0.8), s.md1_durations_s, strict=True):
        lam = rho / tau
        cfg = {
            **base,
            "warmup_s": 50.0 if duration > 500 else 5.0,
            "duration_s": duration,
            "devices": {"count": 10, "arrival": "poisson", "arrival_rate_per_s": lam / 10},
            "policy": {"kind": "llm_only"},
            "server": {"llm_latency_s": tau, "max_batch": 1},
        }
        runs = r.config(cfg, s.md1_seeds)
        rows.append(
            ClosedRow(
                f"M/D/1 mean GPU wait, ρ = {rho}",
                "W_q = λ τ² / (2 (1 − ρ)), λ = ρ/τ, τ = 10 ms",
                f"dict: devices.arrival=poisson ×10, λ = {lam:g}/s, llm_only, max_batch=1, "
                f"duration_s={duration:g}",
                lam * tau**2 / (2 * (1 - rho)),
                metric(runs, "mean_gpu_queue_wait_s"),
                "s",
            )
        )
        rows.append(
            ClosedRow(
                f"M/D/1 utilisation, ρ = {rho}",
                "ρ = λ τ",
                "same runs",
                rho,
                metric(runs, "gpu_utilization"),
                "",
            )
        )

    # 4b. M/G/1-PS: open-loop Poisson payloads on the equal-share uplink
    service, rho = 16_000 / 1e6, 0.5  # dense |V| = 1000 × 16 bit on 1 MHz at 0 dB (η = 1)
    cfg = {
        **base,
        "warmup_s": 20.0,
        "duration_s": s.md1_durations_s[0],
        "devices": {"count": 10, "arrival": "poisson", "arrival_rate_per_s": rho / service / 10},
        "channel": {"snr_db": 0.0},
        "uplink": {"bandwidth_hz": 1e6},
        "payload": {"vocab_size": 1000, "encoding": "dense", "prob_bits": 16},
        "server": {"llm_latency_s": 0.001, "max_batch": 64},
        "policy": {"kind": "hlm"},
    }
    runs = r.config(cfg, s.md1_seeds)
    rows.append(
        ClosedRow(
            f"M/G/1-PS mean uplink sojourn, ρ = {rho}",
            "T = S / (1 − ρ), S = B/(Wη) = 16 ms, λ = ρ/S (equal share = processor sharing)",
            f"dict: devices.arrival=poisson ×10, λ = {rho / service:g}/s, hlm, 16 kbit, "
            f"1 MHz, 0 dB, duration_s={s.md1_durations_s[0]:g}",
            service / (1 - rho),
            Stat.of([x["mean_airtime_s"] + x["mean_uplink_queue_s"] for x in runs]),
            "s",
        )
    )

    # 5. Little's law, GPU queue and uplink
    cfg = {
        **base,
        "duration_s": min(400.0, s.closed_duration_s),
        "devices": {"count": 25, "think_time_s": 0.5, "start_spread_s": 1.0},
        "policy": {"kind": "hlm"},
        "payload": {"vocab_size": 32_000},
        "server": {"max_batch": 4, "batch_per_item_s": 0.02},
    }
    runs = r.config(cfg, 2)
    rows.append(
        ClosedRow(
            "Little's law at the GPU queue",
            "L = λ W: mean_gpu_queue_length vs gpu_arrival_rate_per_s × mean_gpu_queue_wait_s",
            "dict: hlm, 25 devices, think_time_s=0.5, max_batch=4, batch_per_item_s=0.02",
            metric(runs, "gpu_arrival_rate_per_s").mean
            * metric(runs, "mean_gpu_queue_wait_s").mean,
            metric(runs, "mean_gpu_queue_length"),
            "",
        )
    )
    rows.append(
        ClosedRow(
            "Little's law on the uplink",
            "mean_uplink_active vs uplink_arrival_rate_per_s × (airtime + uplink queue)",
            "same runs",
            Stat.of(
                [
                    x["uplink_arrival_rate_per_s"]
                    * (x["mean_airtime_s"] + x["mean_uplink_queue_s"])
                    for x in runs
                ]
            ).mean,
            metric(runs, "mean_uplink_active"),
            "",
        )
    )

    # 6. single-device energy account
    e = {"device_compute_w": 4.0, "device_wait_w": 0.5, "tx_power_w": 0.2, "tx_circuit_w": 0.3}
    e.update({"gpu_busy_w": 250.0, "gpu_idle_w": 0.0})
    tau_s, llm, dl, snr_db = 0.05, 0.1, 0.01, 10.0
    cfg = {
        **base,
        "duration_s": min(300.0, s.closed_duration_s),
        "energy": e,
        "devices": {"slm_latency_s": tau_s},
        "channel": {"snr_db": snr_db},
        "payload": {"vocab_size": 32_000},
        "server": {"llm_latency_s": llm},
        "downlink": {"latency_s": dl},
        "policy": {"kind": "hlm"},
    }
    runs = r.config(cfg, 1)
    e_dev = 4.0 * tau_s + 0.5 * _airtime(bits, 10e6, snr_db) + 0.5 * (llm + dl)
    rows.append(
        ClosedRow(
            "Device energy per token, single-device HLM",
            "P_cmp τ + (P_tx + P_circ) B/R + P_wait (τ_llm + τ_dl)",
            "dict: hlm, τ=50 ms, τ_llm=100 ms, τ_dl=10 ms, 10 dB, 4/0.5/0.2/0.3 W",
            e_dev,
            metric(runs, "device_energy_per_token_j"),
            "j",
        )
    )
    rows.append(
        ClosedRow(
            "System energy per token, single-device HLM",
            "E_dev + P_gpu τ_llm (250 W)",
            "same run",
            e_dev + 250.0 * llm,
            metric(runs, "system_energy_per_token_j"),
            "j",
        )
    )

    # 6b. radiated energy per payload with 20 devices sharing (uplink.power_model)
    cfg = {
        **base,
        "duration_s": min(120.0, s.closed_duration_s),
        "energy": {"tx_power_w": 0.2, "tx_circuit_w": 0.0},
        "devices": {"count": 20},
        "channel": {"snr_db": 17.0},
        "payload": {"vocab_size": 32_000},
        "policy": {"kind": "hlm"},
    }
    runs = r.config(cfg, 1)
    rows.append(
        ClosedRow(
            "Radiated energy per payload [mJ], 20 devices sharing (constant_psd)",
            "P_tx B/(W η) whatever the number of sharers (P_tx W_n/W over B/(W_n η))",
            "dict: hlm, 20 devices, 10 MHz, 17 dB, P_tx = 0.2 W, P_circ = 0",
            1e3 * 0.2 * _airtime(bits, 10e6, 17.0),
            Stat.of(
                [
                    1e3
                    * x["energy_breakdown_j"]["device_transmit"]
                    / (x["tokens_generated"] * x["transmission_rate"])
                    for x in runs
                ]
            ),
            "",
        )
    )

    # 7. gain bound and exact single-device gain, from the U-HLM SNR sweep (synthetic trace)
    _limit_row(r, synth, rows)
    for row in snr:
        if row.paper != "U-HLM" or not row.trace.startswith("synthetic"):
            continue
        if row.snr_db not in (min(s.snr_grid), max(s.snr_grid)):
            continue
        rows.append(
            ClosedRow(
                f"U-HLM gain, exact single-device form ({row.snr_db:g} dB)",
                "G = (τ + X_HLM) / (τ + TR·X), X = B/R + τ_llm + τ_dl, TR measured",
                _scn(file, [f"channel.snr_db={row.snr_db:g}"], synth) + " vs hlm",
                row.exact,
                row.gain,
                "x",
            )
        )
        rows.append(
            ClosedRow(
                f"U-HLM gain vs bound 1/(1 − SR) ({row.snr_db:g} dB)",
                "G ≤ 1/(1 − SR) (equality only as τ_slm → 0); rel. error < 0 = bound holds",
                "same runs",
                row.bound_tr,
                row.gain,
                "x",
            )
        )


def _limit_row(r: Runner, synth: TraceSpec, rows: list[ClosedRow]) -> None:
    file = "uhlm_paper.yaml"
    path = SCENARIOS / file
    over = ["channel.snr_db=-10", "devices.slm_latency_s=0.001", *r.durations()]
    scheme = r.file(path, [*over, synth.override], r.settings.snr_seeds)
    hlm = r.file(path, [*_hlm_overrides(file), *over, synth.override], r.settings.snr_seeds)
    rows.append(
        ClosedRow(
            "U-HLM gain → 1/(1 − SR) as τ_slm → 0 (τ_slm = 1 ms, −10 dB)",
            "G → 1/TR, TR measured per seed (the bound is tight when drafting is free)",
            _scn(file, over[:2], synth) + " vs hlm",
            Stat.of([1.0 / x["transmission_rate"] for x in scheme]).mean,
            paired(scheme, hlm, ratio("throughput_tokens_per_s")),
            "x",
        )
    )


def _closed_file(r: Runner, path: Path, overrides: Sequence[str]) -> list[dict[str, Any]]:
    # Closed-form runs set their own duration; bypass Settings.duration_s.
    out = []
    for seed in r.seeds(2):
        out.append(r.scenario(load_scenario(path, overrides, seed=seed)))
    return out


# --- report -----------------------------------------------------------------------------------


def build(settings: Settings = Settings(), real_trace: Path | None = REAL_TRACE) -> Report:
    """Run everything and return the structured report (``render`` turns it into markdown)."""
    t0 = time.perf_counter()
    r = Runner(settings)
    claims: list[ClaimRow] = []
    snr: list[SnrRow] = []
    closed: list[ClosedRow] = []
    real = real_trace_spec(real_trace)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cuhlm-validate-") as tmp:
        tmp_p = Path(tmp)
        rows = settings.synth_rows
        syn_u = synthetic_trace(tmp_p, "uhlm", 0.82, -0.06, rows)
        syn_c = synthetic_trace(tmp_p, "cuhlm", 0.815, -0.066, rows)
        run_uhlm(r, [syn_u, real], claims, snr)
        run_cuhlm(r, [syn_c, real], claims, snr)
        # 2508.12590 states no coefficients; its threshold 0.081 is CU-HLM's, so is the line.
        run_energy(r, [syn_c, real], claims)
        run_closed(r, syn_u, closed, snr)
    if real.override is None:
        notes.append(
            f"The real trace `{REAL_TRACE.relative_to(ROOT)}` was not present when this file "
            f"was generated ({NOT_AVAILABLE}); rerun `make validate` once it exists."
        )
    return Report(
        settings,
        real.shown if real.override else None,
        claims,
        snr,
        closed,
        notes,
        r.runs,
        time.perf_counter() - t0,
    )


#: (paper, claim prefix) of the rows repeated in the summary at the top of the report.
HEADLINES: tuple[tuple[str, str], ...] = (
    ("U-HLM", "Uplink / LLM calls saved"),
    ("U-HLM", "Throughput gain vs HLM at the scenario SNR"),
    ("U-HLM", "Throughput gain vs HLM, lowest SNR"),
    ("U-HLM", REFIT_CLAIM),
    ("CU-HLM", "Skip rate (uplink"),
    ("CU-HLM", "Payload compression 1 − B(k)/B(|V|), offline"),
    ("CU-HLM", "Vocabulary compression"),
    ("CU-HLM", "Throughput gain vs HLM, lowest SNR"),
    ("CU-HLM", "Throughput gain vs HLM, uplink-dominated"),
    ("IU-HLM (2508.12590)", "IU-HLM throughput"),
    ("IU-HLM (2508.12590)", "U-HLM throughput"),
    ("IU-HLM (2508.12590)", "IU-HLM device energy saving"),
    ("IU-HLM (2508.12590)", "U-HLM device energy saving"),
)


def summary_rows(rep: Report) -> list[list[str]]:
    """Headline claims: paper value, ours on the synthetic trace, ours on the real trace."""
    out = []
    for paper, prefix in HEADLINES:
        found = [c for c in rep.claims if c.paper == paper and c.claim.startswith(prefix)]
        if not found:
            continue
        by_trace = {c.trace.split(" ")[0]: c for c in found}
        first = found[0]
        cells = []
        for kind in ("synthetic", "real"):
            c = by_trace.get(kind)
            cells.append("—" if c is None else c.cells()[3])
        name = prefix if prefix in (REFIT_CLAIM, "Vocabulary compression") else first.claim
        if prefix == "Vocabulary compression":
            name += " 1 − k̄/|V| (the trace's |V|), online k, θ_TV = 0.1 (ASM)"
        out.append([paper, name, first.paper_value, *cells])
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return out


def _git_head() -> str:
    try:
        res = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return res.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(rep: Report, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    s = rep.settings
    lines = [
        "# Validation against the papers and closed forms",
        "",
        "<!-- GENERATED FILE: do not edit by hand. -->",
        f"**Generated** by {COMMAND} on {now:%Y-%m-%d %H:%M} UTC at commit `{_git_head()}` "
        f"({rep.runs} simulation runs, {rep.wall_s:.0f} s wall time). Do not edit by hand: "
        "change `analysis/validate.py` and rerun.",
        "",
        "Method. Each paper scenario (`scenarios/*_paper.yaml`, `scenarios/energy_aware.yaml`; "
        "their headers tag every value SEC or ASM after `docs/theory.md`) "
        "runs with (1) a synthetic trace drawn from the paper's linear rejection model "
        "β = a·u + b (`SynthParams(rejection_a, rejection_b, vocab_size=32000)`, other "
        "synthetic-model parameters at their ASM defaults) and (2) the real trace "
        "(Qwen2.5-Coder 0.5B→1.5B, |V| = 151,936; the scenarios keep the papers' "
        "|V| = 32,000 payload). "
        f"Each point uses {s.seeds} seeds (SNR sweep: {s.snr_seeds}); the HLM baseline "
        "is the same scenario with `policy.kind=hlm` and the same seeds, so ratios and savings "
        "are formed per seed. ± is the Student-t 95 % confidence half-width over seeds "
        "(0 when every seed gives the same value: a single HLM device is deterministic). "
        "Durations are the scenarios' own"
        + (f" (here overridden: `duration_s={s.duration_s:g}`)" if s.duration_s else "")
        + ". Gaps are findings, not something to tune away: no parameter was fitted to a "
        "paper number. The papers' numbers are partly incompatible with each other "
        "(docs/theory.md §11), so trends matter more than absolute values.",
        "",
    ]
    lines += [f"> **Note.** {n}" for n in rep.notes]
    if rep.notes:
        lines.append("")
    lines += [
        "## Summary (headline claims)",
        "",
        "Details, scenario overrides and the explanation of each gap are in the per-paper "
        "tables below.",
        "",
    ]
    lines += _table(
        ["paper", "claim", "paper value", "ours, synthetic trace", "ours, real trace"],
        summary_rows(rep),
    )
    lines.append("")
    header = ["claim", "paper", "trace", "ours (95 % CI)", "scenario (+ overrides)", "gap"]
    for paper, title in [
        ("U-HLM", "U-HLM (arXiv 2412.12687)"),
        ("CU-HLM", "CU-HLM (arXiv 2505.11788)"),
        (
            "IU-HLM (2508.12590)",
            "Importance + uncertainty-aware energy-efficient HLM (arXiv 2508.12590)",
        ),
    ]:
        lines += [f"## {title}", ""]
        lines += _table(header, [c.cells() for c in rep.claims if c.paper == paper])
        lines.append("")
        if paper == "IU-HLM (2508.12590)":
            lines += [
                "The synthetic trace for this paper uses CU-HLM's line (a = 0.815, b = −0.066): "
                "2508.12590 states no coefficients, uses the same model pair "
                "(TinyLlama → Llama-2-7B), and the scenario's u_th = 0.081 is CU-HLM's.",
                "",
            ]
    lines += [
        "## Gain vs SNR (trend toward the bounds)",
        "",
        "The papers' largest gains are at a weak channel. G = throughput / HLM throughput (per "
        "seed); 1/TR is the skip-only bound, 1/(TR·c) adds the compression c = B(k̄)/B(|V|); "
        "the exact single-device value (τ_slm + X_HLM)/(τ_slm + TR·X) uses the measured TR "
        "(X = B/R + τ_llm + τ_dl). The gain rises as the SNR falls and the uplink dominates, "
        "but the SLM time paid on every token keeps it below the bound (1/TR for U-HLM, "
        "1/(TR·c) for CU-HLM, where compression lets G exceed 1/TR).",
        "",
    ]
    snr_rows = [
        [
            p.paper,
            p.trace,
            f"{p.snr_db:g}",
            fmt_stat(p.hlm_tps, "tps"),
            fmt_stat(p.scheme_tps, "tps"),
            fmt_stat(p.skip_rate, "pct"),
            fmt_stat(p.gain, "x"),
            fmt(p.exact, "x"),
            fmt(p.bound_tr, "x"),
            fmt(p.bound_trc, "x") if p.paper == "CU-HLM" else "—",
        ]
        for p in rep.snr
    ]
    lines += _table(
        [
            "paper set-up",
            "trace",
            "SNR [dB]",
            "HLM",
            "scheme",
            "skip rate",
            "gain G",
            "exact G",
            "1/TR",
            "1/(TR·c)",
        ],
        snr_rows,
    )
    if not any(p.trace.startswith("real") for p in rep.snr):
        lines += ["", f"Real-trace rows: {NOT_AVAILABLE}."]
    lines.append("")
    for key in dict.fromkeys((p.paper, p.trace) for p in rep.snr):
        pts = sorted((p for p in rep.snr if (p.paper, p.trace) == key), key=lambda p: p.snr_db)
        if len(pts) < 2:
            continue
        gains = [p.gain.mean for p in pts]
        trend = (
            "rises monotonically"
            if all(np.diff(gains) <= 0)
            else "does not rise monotonically (compare the CIs in the table)"
        )
        lines.append(
            f"- {key[0]}, {key[1]}: G {trend} as the SNR falls, from {gains[-1]:.2f}× at "
            f"{pts[-1].snr_db:g} dB to {gains[0]:.2f}× at {pts[0].snr_db:g} dB "
            + (
                f"(1/(TR·c) = {pts[0].bound_trc:,.0f}×)."
                if key[0] == "CU-HLM"
                else f"(1/TR = {pts[0].bound_tr:.2f}×)."
            )
        )
    lines.append("")
    if REAL_TRACE.is_file():  # measured accuracy of the real pair, when its table exists
        from cuhlm_sim.accuracy.compare import section

        lines += section(ACCURACY_TABLE, REAL_TRACE)
    lines += [
        "",
        "## Closed-form checks",
        "",
        "Relative error = (simulated − expected) / expected. The single-device throughput has "
        "a window-edge error of at most one token per window.",
        "",
    ]
    lines += _table(
        ["check", "formula", "setup", "expected", "simulated", "rel. error"],
        [
            [
                c.check,
                c.formula,
                c.setup,
                fmt(c.expected, c.unit),
                fmt_stat(c.simulated, c.unit),
                f"{100 * c.rel_error:+.2f} %",
            ]
            for c in rep.closed
        ],
    )
    lines += [
        "",
        "## Not compared",
        "",
        "- Accuracy claims (U-HLM 97.54 % cosine / ≈ 100.05 % of HLM; CU-HLM 97.4 %; "
        "2508.12590 BERTScore 87.5 / 87.0 / 85.8 %): they need decoded text and an embedding "
        "model (docs/theory.md §8), which the replay does not produce. `skip_error_rate` above is "
        "the replay-time proxy.",
        "- Robot-testbed U-HLM (+24.9 % / +41.8 % over Wi-Fi): a real testbed with its own "
        "latencies; no scenario.",
        "",
    ]
    return "\n".join(lines)


def all_numbers(rep: Report) -> list[float]:
    """Every simulated mean in the report (for the test's finiteness check)."""
    out = [c.ours.mean for c in rep.claims if c.ours is not None]
    out += [p.gain.mean for p in rep.snr] + [c.simulated.mean for c in rep.closed]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write")
    ap.add_argument("--real-trace", type=Path, default=REAL_TRACE, help="real trace file/folder")
    ap.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per point")
    args = ap.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.seeds is not None:
        settings = replace(settings, seeds=args.seeds)
    rep = build(settings, args.real_trace)
    if write_report(render(rep), args.out):
        print(f"wrote {args.out} ({rep.runs} runs, {rep.wall_s:.0f} s)", file=sys.stderr)
    else:
        print(f"{args.out}: results unchanged, file kept as it was", file=sys.stderr)
    return 0


#: Start of the one line of the report that changes on every run (date, commit, wall time).
STAMP = "**Generated** by "


def _body(text: str) -> str:
    return "\n".join(ln for ln in text.split("\n") if not ln.startswith(STAMP))


def write_report(text: str, out: Path) -> bool:
    """Write ``text`` to ``out`` unless ``out`` already holds the same report but for its
    :data:`STAMP` line: then keep the file byte for byte (the tracked validation.md changes
    only when a result does). Returns whether it wrote."""
    try:
        if _body(out.read_text(encoding="utf-8")) == _body(text):
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(out, text)
    return True


if __name__ == "__main__":
    raise SystemExit(main())
