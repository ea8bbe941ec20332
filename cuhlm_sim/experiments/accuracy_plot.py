"""Accuracy against throughput: what each scheme's speed costs in measured output quality.

Reads two sweep folders on the same cell (U-HLM across thresholds; single points for the other
schemes), whose runs carry ``accuracy_cosine`` from the replayed trace's closed-loop table, and
the table itself for the measured configurations' prompt-clustered 95 % intervals. x: accuracy
(cosine to the LLM-only output), y: throughput per device (mean and 95 % CI over repetitions).
The LLM-only noise floor (a second LLM sample) is a vertical line: a scheme right of it is as
close to the LLM as the LLM is to itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.experiments.plots import SCHEME_NAMES, _pyplot, _save, read_sweep_dir

#: Display names of the schemes in this figure: the figures' one table, CU-HLM's k stated.
NAMES = {**SCHEME_NAMES, "cuhlm": f"{SCHEME_NAMES['cuhlm']} (k = 30)"}
X, Y = "accuracy_cosine", "throughput_per_device_tokens_per_s"


def _col(points: pd.DataFrame, metric: str, stat: str) -> pd.Series:
    return points[f"{metric}_{stat}"]


def measured_intervals(table: Path) -> pd.DataFrame:
    """Per measured configuration: mean cosine and its 95 % interval clustered by prompt."""
    from cuhlm_sim.accuracy.report import summarize

    df = pd.read_parquet(table)
    return summarize(df)


def plot_accuracy(curve_dir: Path, points_dir: Path, table: Path, base: Path) -> list[Path]:
    """Draw the figure; ``base`` without suffix (PNG + PDF)."""
    curve, _ = read_sweep_dir(curve_dir)
    pts, _ = read_sweep_dir(points_dir)
    if f"{X}_mean" not in curve.columns or curve[f"{X}_mean"].isna().all():
        raise CuhlmError(f"{curve_dir}: the runs carry no accuracy_cosine (no accuracy table?)")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    curve = curve.sort_values("policy.threshold")
    ok = curve[f"{X}_mean"].notna()
    c = curve[ok]
    ax.errorbar(
        c[f"{X}_mean"],
        _col(c, Y, "mean"),
        yerr=_col(c, Y, "ci95"),
        marker="o",
        ms=3,
        lw=1.2,
        label="U-HLM (u_th 0 … 1; interpolated between measured thresholds)",
    )
    for _, row in c.iterrows():
        th = row["policy.threshold"]
        if round(th * 20) in (0, 1, 10):
            ax.annotate(f"$u_{{th}}$={th:g}", (row[f"{X}_mean"], row[f"{Y}_mean"]), fontsize=7)
    meas = measured_intervals(table)
    floor = meas[(meas["policy"] == "llm_only") & (meas["seed"] != 0)]
    if len(floor):
        f = floor.iloc[0]
        ax.axvspan(f["cosine_to_llm_lo"], f["cosine_to_llm_hi"], color="0.85", zorder=0)
        ax.axvline(f["cosine_to_llm"], color="0.4", ls="--", lw=1, label="noise floor (LLM vs LLM)")
    kind_col = "policy.kind"
    for _, row in pts.iterrows():
        kind = row[kind_col]
        x = row.get(f"{X}_mean")
        if x is None or pd.isna(x):
            continue
        ax.errorbar(
            x,
            row[f"{Y}_mean"],
            yerr=row[f"{Y}_ci95"],
            marker="s",
            ls="none",
            label=NAMES.get(kind, kind),
        )
    _measured_bars(ax, meas)
    ax.set_xlabel("accuracy: cosine similarity to the LLM-only output [–]")
    ax.set_ylabel("throughput per device [tok/s]")
    ax.set_title("Throughput vs measured accuracy (default cell, 20 phones)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, base)


def _measured_bars(ax: Any, meas: pd.DataFrame) -> None:
    """Horizontal 95 % intervals of the measured U-HLM configurations, on the x axis only."""
    rows = meas[meas["policy"].isin(["uhlm", "slm_only"])]
    lo, hi = ax.get_ylim()
    y = lo + 0.03 * (hi - lo)
    for _, r in rows.iterrows():
        ax.plot([r["cosine_to_llm_lo"], r["cosine_to_llm_hi"]], [y, y], color="C0", lw=2)
        ax.plot([r["cosine_to_llm"]], [y], "|", color="C0", ms=8)
    ax.annotate(
        "measured U-HLM / SLM-only: 95 % CI over prompts",
        (0.01, 0.01),
        xycoords="axes fraction",
        fontsize=7,
        color="C0",
    )
