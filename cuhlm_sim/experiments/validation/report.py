"""The validation report: run everything (:func:`build`), render it as markdown
(:func:`render`) and write it only when a result changed (:func:`write_report`)."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuhlm_sim.atomic import atomic_write_text
from cuhlm_sim.experiments.validation.closed import ClosedRow, run_closed
from cuhlm_sim.experiments.validation.papers import ClaimRow, SnrRow, run_paper
from cuhlm_sim.experiments.validation.running import (
    NOT_AVAILABLE,
    Runner,
    Settings,
    TraceSpec,
    fmt,
    fmt_stat,
    real_trace_spec,
    synthetic_trace,
)
from cuhlm_sim.experiments.validation.table import CLAIMS, PAPERS, UHLM

COMMAND = "`make validate` (i.e. `.venv/bin/python analysis/validate.py`)"


@dataclass(frozen=True)
class Paths:
    """Where the checkout keeps what the report reads."""

    root: Path
    scenarios: Path
    real_trace: Path  # the real trace the report expects (a note says when it is missing)
    accuracy_table: Path  # closed-loop accuracy of the real pair (rendered when present)
    #: analysis/sensitivity.md (``python analysis/sensitivity.py``), quoted when present
    sensitivity: Path | None = None


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


def build(settings: Settings, real_trace: Path | None, paths: Paths) -> Report:
    """Run everything and return the structured report (``render`` turns it into markdown)."""
    t0 = time.perf_counter()
    r = Runner(settings, paths.scenarios)
    claims: list[ClaimRow] = []
    snr: list[SnrRow] = []
    closed: list[ClosedRow] = []
    real = real_trace_spec(real_trace, paths.root)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cuhlm-validate-") as tmp:
        synth: dict[tuple[float, float], TraceSpec] = {}
        for paper in PAPERS:
            a, b = paper.synthetic
            if paper.synthetic not in synth:
                name = f"{a:g}_{b:g}"
                synth[paper.synthetic] = synthetic_trace(Path(tmp), name, a, b, settings.synth_rows)
            run_paper(r, paper, [synth[paper.synthetic], real], claims, snr)
        uhlm = next(p for p in PAPERS if p.name == UHLM)
        run_closed(r, synth[uhlm.synthetic], closed, snr)
    if real.override is None:
        notes.append(
            f"The real trace `{paths.real_trace.relative_to(paths.root)}` was not present when "
            f"this file was generated ({NOT_AVAILABLE}); rerun `make validate` once it exists."
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


def summary_rows(rep: Report) -> list[list[str]]:
    """Headline claims: paper value, ours on the synthetic trace, ours on the real trace."""
    out = []
    for claim in CLAIMS:
        if not claim.headline:
            continue
        found = [c for c in rep.claims if c.key == claim.key]
        if not found:
            continue
        by_trace = {c.trace.split(" ")[0]: c for c in found}
        first = found[0]
        cells = []
        for kind in ("synthetic", "real"):
            c = by_trace.get(kind)
            cells.append("—" if c is None else c.cells()[3])
        out.append([claim.paper, claim.short or first.claim, first.paper_value, *cells])
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return out


def render(rep: Report, paths: Paths, commit: str, now: dt.datetime | None = None) -> str:
    """The markdown of ``rep``; ``commit`` names the checkout it was made at."""
    now = now or dt.datetime.now(dt.UTC)
    s = rep.settings
    lines = [
        "# Validation against the papers and closed forms",
        "",
        "<!-- GENERATED FILE: do not edit by hand. -->",
        f"**Generated** by {COMMAND} on {now:%Y-%m-%d %H:%M} UTC at commit `{commit}` "
        f"({rep.runs} simulation runs, {rep.wall_s:.0f} s wall time). Do not edit by hand: "
        "change the claims and closed forms in `cuhlm_sim/experiments/validation/` "
        "(`table.py`) and rerun.",
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
    for paper in PAPERS:
        lines += [f"## {paper.title}", ""]
        lines += _table(header, [c.cells() for c in rep.claims if c.paper == paper.name])
        lines.append("")
        if paper.note:
            lines += [paper.note, ""]
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
    if paths.real_trace.is_file():  # measured accuracy of the real pair, when its table exists
        from cuhlm_sim.accuracy.compare import section

        lines += section(paths.accuracy_table, paths.real_trace)
    lines += [
        "",
        "## Closed-form checks",
        "",
        "Relative error = (simulated − expected) / expected. The single-device throughput has "
        "a window-edge error of at most one token per window. Every cell here has fixed "
        "per-token and per-batch times (the closed forms are the deterministic cell's).",
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
    if paths.sensitivity is not None and paths.sensitivity.is_file():
        lines += [
            "",
            "## Sensitivity: does the capacity ranking hold under jitter and SNR spread?",
            "",
            *paths.sensitivity.read_text(encoding="utf-8").rstrip().splitlines(),
        ]
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
