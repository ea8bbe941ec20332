"""The papers' claims against our runs: each paper scenario with the synthetic and the real
trace, its HLM baseline on the same seeds, the SNR sweep towards the bounds.

What is claimed, measured and explained comes from the rows of
:data:`~cuhlm_sim.experiments.validation.table.CLAIMS`; this module runs the scenarios and
computes the numbers those rows' texts and values need (their *context*).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cuhlm_sim.config import load_scenario
from cuhlm_sim.experiments.validation.running import (
    NOT_AVAILABLE,
    Runner,
    Stat,
    TraceSpec,
    fmt_stat,
    metric,
    paired,
    ratio,
    saving,
)
from cuhlm_sim.experiments.validation.table import (
    Claim,
    Paper,
    exact_gain,
    hlm_token_time,
    paper_claims,
    payload_bits,
    shannon_airtime,
)

Runs = list[dict[str, Any]]
#: The papers' full payload: |V| = 32,000 indexed with 8-bit probabilities.
PAPER_BITS = payload_bits(32_000)


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
    key: str = ""  # the claim's key in the table

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


def scenario_text(file: str, overrides: Sequence[str], trace: TraceSpec) -> str:
    """How the report names a run: the scenario file, its overrides and the trace."""
    parts = [f"`{o}`" for o in overrides] + [trace.shown]
    return f"`scenarios/{file}`" + (" + " + ", ".join(parts) if parts else "")


@dataclass
class Measured:
    """One paper on one trace: its runs by run set, the context its claims' texts fill in,
    and the values computed here rather than read from a summary (by claim key)."""

    runs: dict[str, Runs]
    context: dict[str, Any]
    values: dict[str, Stat]


def run_paper(
    r: Runner, paper: Paper, traces: Sequence[TraceSpec], rows: list[ClaimRow], snr: list[SnrRow]
) -> None:
    """The paper's claim rows for every trace (placeholders for a missing one)."""
    path = r.scenarios / paper.file
    n = r.settings.seeds
    for t in traces:
        if t.override is None:
            _placeholders(rows, paper, t)
            continue
        runs = {"scheme": r.file(path, [t.override], n)}
        for name, run_set in paper.runs.items():
            runs[name] = r.file(path, [*run_set.overrides, t.override], n)
        m = Measured(runs, {}, {})
        CONTEXT[paper.name](r, paper, t, m, snr)
        real = t.label.startswith("real")
        for claim in paper_claims(paper.name):
            if claim.real_only and not real:
                continue
            if claim.when and not all(x.get(claim.when) is not None for x in runs[claim.runs]):
                continue
            rows.append(_claim_row(claim, paper, t, m, real))


def _claim_row(claim: Claim, paper: Paper, t: TraceSpec, m: Measured, real: bool) -> ClaimRow:
    value = m.values.get(claim.key)
    if value is None:
        assert claim.metric is not None, claim.key
        if claim.vs is None:
            value = metric(m.runs[claim.runs], claim.metric)
        else:
            fn = (saving if claim.saving else ratio)(claim.metric)
            value = paired(m.runs[claim.runs], m.runs[claim.vs], fn)
    shown = claim.shown
    if shown is None:
        shown = paper.runs[claim.runs].overrides if claim.runs in paper.runs else ()
    scenario = scenario_text(paper.file, [o.format_map(m.context) for o in shown], t)
    if claim.vs is not None:
        scenario += f" vs `{paper.runs[claim.vs].label}`"
    gap = claim.gap_real if real and claim.gap_real is not None else claim.gap
    return ClaimRow(
        paper.name,
        claim.label.format_map(m.context),
        claim.paper_value,
        t.label,
        value,
        claim.unit,
        scenario,
        gap.format_map(m.context),
        key=claim.key,
    )


def _placeholders(rows: list[ClaimRow], paper: Paper, t: TraceSpec) -> None:
    """The trace is missing: the same claims as the first trace's rows, marked as such."""
    done = [c for c in rows if c.paper == paper.name]
    first = [c for c in done if c.trace == done[0].trace] if done else []
    todo = [(c.claim, c.paper_value, c.key) for c in first]
    if "real" in t.label:
        only = [c for c in paper_claims(paper.name) if c.real_only]
        todo += [(c.short or c.label, c.paper_value, c.key) for c in only]
    for claim, value, key in todo:
        rows.append(
            ClaimRow(paper.name, claim, value, t.label, None, "", "—", "", NOT_AVAILABLE, key)
        )


# --- each paper's context ----------------------------------------------------------------------


def _uhlm(r: Runner, paper: Paper, t: TraceSpec, m: Measured, snr: list[SnrRow]) -> None:
    m.context["airtime_17db_ms"] = 1e3 * shannon_airtime(PAPER_BITS, 10e6, 17)
    low = snr_sweep(r, paper, t, snr)
    m.context.update(low_snr=low.snr_db, low_bound_tr=low.bound_tr)
    m.values["uhlm.gain_lowest_snr"] = low.gain
    if "real" in t.label:
        _refit(r, paper, t, m)


def _refit(r: Runner, paper: Paper, t: TraceSpec, m: Measured) -> None:
    """Real trace: the paper's risk-averse rule u_th = −b̂/â with our own fit (not tuning)."""
    from cuhlm_sim.traces.fit import fit_trace

    assert t.override is not None
    fit = fit_trace(Path(t.override.split("=", 1)[1]))["all"]
    u_th = float(min(1.0, max(0.0, fit.u_th_averse)))
    over = f"policy.threshold={u_th:.4f}"
    runs = r.file(r.scenarios / paper.file, [over, t.override], r.settings.seeds)
    m.runs["refit"] = runs
    m.context.update(
        u_th=u_th,
        fit_a=fit.a,
        fit_b=fit.b,
        fit_r2=fit.r2,
        refit_true_skip=fmt_stat(metric(runs, "true_skip_rate"), "pct"),
    )


def _cuhlm(r: Runner, paper: Paper, t: TraceSpec, m: Measured, snr: list[SnrRow]) -> None:
    assert t.override is not None
    scheme, online = m.runs["scheme"], m.runs["online"]
    v = r.vocab(r.scenarios / paper.file, [t.override])
    k_on = metric(online, "mean_truncation_k")
    m.values["cuhlm.vocab_online"] = Stat.of([1.0 - k / v for k in k_on.values])
    m.context.update(
        vocab=v,
        k_online=fmt_stat(k_on, ""),
        exact_rejection=fmt_stat(metric(scheme, "exact_rejection_rate"), "pct"),
        offline_compression_pct=100 * (1 - 30 / 32_000),
        airtime_17db_ms=1e3 * shannon_airtime(PAPER_BITS, 10e6, 17),
    )
    low = snr_sweep(r, paper, t, snr)
    m.values["cuhlm.gain_lowest_snr"] = low.gain
    scn = load_scenario(r.scenarios / paper.file)
    tau = scn.devices.slm_latency_s
    t_hlm = hlm_token_time(
        tau, shannon_airtime(PAPER_BITS, 10e6, low.snr_db), scn.server.llm_latency_s, 0.0
    )
    m.context.update(low_snr=low.snr_db, low_bound_trc=low.bound_trc, low_cap=t_hlm / tau)
    # The uplink-dominated limit: −10 dB with both model times 1 ms.
    fast = m.runs["fast"]
    tr = metric(fast, "transmission_rate").mean
    c = metric(fast, "payload_compression").mean
    x_h = shannon_airtime(PAPER_BITS, 10e6, -10) + 0.001
    x_s = shannon_airtime(PAPER_BITS * (1 - c), 10e6, -10) + 0.001
    m.context.update(fast_exact=exact_gain(0.001, x_h, x_s, tr), fast_bound=1 / (tr * (1 - c)))


def _iuhlm(r: Runner, paper: Paper, t: TraceSpec, m: Measured, snr: list[SnrRow]) -> None:
    ihlm, uhlm, hlm = m.runs["scheme"], m.runs["uhlm"], m.runs["hlm"]
    e_compute = 5.0 * 0.2
    e_hlm = metric(hlm, "device_energy_per_token_j").mean
    m.context.update(
        airtime_s=shannon_airtime(512_000, 0.2e6, 0.0),
        hlm_tps=metric(hlm, "throughput_tokens_per_s").mean,
        skip_pct=100 * metric(ihlm, "skip_rate").mean,
        scheme_tps=metric(ihlm, "throughput_tokens_per_s").mean,
        e_compute=e_compute,
        e_hlm=e_hlm,
        saving_cap_pct=100 * (1 - e_compute / e_hlm),
        skip_error_scheme=fmt_stat(metric(ihlm, "skip_error_rate"), "pct2"),
        skip_error_uhlm=fmt_stat(metric(uhlm, "skip_error_rate"), "pct2"),
        skip_error_hlm=fmt_stat(metric(hlm, "skip_error_rate"), "pct2"),
    )


CONTEXT: dict[str, Callable[[Runner, Paper, TraceSpec, Measured, list[SnrRow]], None]] = {
    "U-HLM": _uhlm,
    "CU-HLM": _cuhlm,
    "IU-HLM (2508.12590)": _iuhlm,
}


def snr_sweep(r: Runner, paper: Paper, t: TraceSpec, out: list[SnrRow]) -> SnrRow:
    """The scheme and HLM over the settings' SNR grid; returns the lowest SNR's row."""
    path = r.scenarios / paper.file
    scn0 = load_scenario(path)
    tau = scn0.devices.slm_latency_s + scn0.devices.uncertainty_latency_s
    llm, dl = scn0.server.llm_latency_s, scn0.downlink.latency_s
    w = scn0.uplink.bandwidth_hz
    lowest = None
    for snr_db in r.settings.snr_grid:
        over = [f"channel.snr_db={snr_db:g}", t.override]
        scheme = r.file(path, over, r.settings.snr_seeds)
        hlm = r.file(path, [*paper.runs["hlm"].overrides, *over], r.settings.snr_seeds)
        tr = metric(scheme, "transmission_rate").mean
        bits_s = metric(scheme, "uplink_bits_per_transmission").mean
        bits_h = metric(hlm, "uplink_bits_per_transmission").mean
        c = bits_s / bits_h
        x_h = shannon_airtime(bits_h, w, snr_db) + llm + dl
        x_s = shannon_airtime(bits_s, w, snr_db) + llm + dl
        row = SnrRow(
            paper.name,
            t.label,
            snr_db,
            metric(hlm, "throughput_tokens_per_s"),
            metric(scheme, "throughput_tokens_per_s"),
            paired(scheme, hlm, ratio("throughput_tokens_per_s")),
            metric(scheme, "skip_rate"),
            1.0 / tr,
            1.0 / (tr * c),
            exact_gain(tau, x_h, x_s, tr),
        )
        out.append(row)
        if lowest is None or snr_db < lowest.snr_db:
            lowest = row
    assert lowest is not None
    return lowest
