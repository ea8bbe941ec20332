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

The work is done by :mod:`cuhlm_sim.experiments.validation`: the closed forms and claims are
the rows of its ``table`` module, which ``tests/validation`` runs too. This script only knows
where the checkout keeps the scenarios and traces, and the command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cuhlm_sim.experiments.validation import report
from cuhlm_sim.experiments.validation.report import (  # noqa: F401 (the tests' names)
    STAMP,
    Paths,
    Report,
    all_numbers,
    write_report,
)
from cuhlm_sim.experiments.validation.running import (  # noqa: F401 (the tests' names)
    NOT_AVAILABLE,
    QUICK,
    Settings,
)

ROOT = Path(__file__).resolve().parents[1]
REAL_TRACE = ROOT / "traces" / "qwen-coder-0.5b-1.5b.parquet"
PATHS = Paths(
    root=ROOT,
    scenarios=ROOT / "scenarios",
    real_trace=REAL_TRACE,
    #: Closed-loop accuracy of the real pair (``cuhlm accuracy``; rendered when present).
    accuracy_table=ROOT / "accuracy" / "qwen-coder-0.5b-1.5b.parquet",
    #: The capacity ranking under jitter and SNR spread (``python analysis/sensitivity.py``).
    sensitivity=ROOT / "analysis" / "sensitivity.md",
)
DEFAULT_OUT = ROOT / "analysis" / "validation.md"


def build(settings: Settings | None = None, real_trace: Path | None = REAL_TRACE) -> Report:
    """Run everything (default settings: the full report) and return the structured report
    (``render`` turns it into markdown)."""
    return report.build(settings or Settings(), real_trace, PATHS)


def render(rep: Report, now: dt.datetime | None = None) -> str:
    return report.render(rep, PATHS, _git_head(), now)


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


if __name__ == "__main__":
    raise SystemExit(main())
