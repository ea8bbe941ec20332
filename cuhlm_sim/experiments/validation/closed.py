"""The closed-form checks of the report: every case of
:data:`~cuhlm_sim.experiments.validation.table.CLOSED_FORMS` (the same rows tests/validation
runs), and the U-HLM gain against its exact single-device form and its bound 1/TR."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments.validation.papers import SnrRow, scenario_text
from cuhlm_sim.experiments.validation.running import Runner, Stat, TraceSpec, paired, ratio
from cuhlm_sim.experiments.validation.table import CLOSED_FORMS, PAPERS, UHLM, Case, Paper


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
class CaseRuns:
    scenario: Scenario  # as run, but for the seed
    runs: list[dict[str, Any]]
    setup: str  # as the report shows it


def run_case(r: Runner, case: Case, synth: TraceSpec) -> CaseRuns:
    """A case at its own length and seeds, both capped by the settings (a file case replays
    the synthetic trace ``synth``)."""
    s = r.settings
    duration, warmup, n = case.duration_s, case.warmup_s, case.seeds
    if s.closed_duration_cap_s is not None and duration > s.closed_duration_cap_s:
        duration = s.closed_duration_cap_s
        warmup = min(warmup, duration / 10)
    if s.closed_seeds_cap is not None:
        n = min(n, s.closed_seeds_cap)
    extra = [synth.override] if case.file is not None and synth.override else []
    runs = [
        r.scenario(
            case.scenario(r.scenarios, duration_s=duration, warmup_s=warmup, seed=seed, extra=extra)
        )
        for seed in r.seeds(n)
    ]
    scn = case.scenario(r.scenarios, duration_s=duration, warmup_s=warmup, extra=extra)
    if case.file is not None:
        setup = scenario_text(case.file, case.run_overrides(duration, warmup), synth)
    else:
        setup = case.setup.format(duration_s=duration)
    return CaseRuns(scn, runs, setup)


def run_closed(r: Runner, synth: TraceSpec, rows: list[ClosedRow], snr: Sequence[SnrRow]) -> None:
    for case in CLOSED_FORMS:
        done = run_case(r, case, synth)
        same = "same run" if len(done.runs) == 1 else "same runs"
        for i, check in enumerate(case.checks):
            rows.append(
                ClosedRow(
                    check.name,
                    check.formula,
                    done.setup if i == 0 else same,
                    check.expected(done.scenario, done.runs),
                    Stat.of([check.measured(x) for x in done.runs]),
                    check.unit,
                )
            )
    # The gain bound and the exact single-device gain, from the U-HLM SNR sweep (synthetic).
    _limit_row(r, synth, rows)
    s = r.settings
    file = _uhlm().file
    for row in snr:
        if row.paper != UHLM or not row.trace.startswith("synthetic"):
            continue
        if row.snr_db not in (min(s.snr_grid), max(s.snr_grid)):
            continue
        rows.append(
            ClosedRow(
                f"U-HLM gain, exact single-device form ({row.snr_db:g} dB)",
                "G = (τ + X_HLM) / (τ + TR·X), X = B/R + τ_llm + τ_dl, TR measured",
                scenario_text(file, [f"channel.snr_db={row.snr_db:g}"], synth) + " vs hlm",
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


def _uhlm() -> Paper:
    return next(p for p in PAPERS if p.name == UHLM)


def _limit_row(r: Runner, synth: TraceSpec, rows: list[ClosedRow]) -> None:
    paper = _uhlm()
    path = r.scenarios / paper.file
    over = ["channel.snr_db=-10", "devices.slm_latency_s=0.001", *r.durations()]
    scheme = r.file(path, [*over, synth.override], r.settings.snr_seeds)
    hlm_over = [*paper.runs["hlm"].overrides, *over, synth.override]
    hlm = r.file(path, hlm_over, r.settings.snr_seeds)
    rows.append(
        ClosedRow(
            "U-HLM gain → 1/(1 − SR) as τ_slm → 0 (τ_slm = 1 ms, −10 dB)",
            "G → 1/TR, TR measured per seed (the bound is tight when drafting is free)",
            scenario_text(paper.file, over[:2], synth) + " vs hlm",
            Stat.of([1.0 / x["transmission_rate"] for x in scheme]).mean,
            paired(scheme, hlm, ratio("throughput_tokens_per_s")),
            "x",
        )
    )
