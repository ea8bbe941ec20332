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

import pandas as pd

from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.experiments.plots import SCHEME_NAMES, _pyplot, _save, read_sweep_dir
from cuhlm_sim.metrics.accuracy import TABLE_POLICY
from cuhlm_sim.traces.grid import threshold_count

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


def _xerr(
    meas: pd.DataFrame, policy: str, skip_count: int | None = None, draws: int = 20
) -> list | None:
    """[[left], [right]] of a measured configuration's 95 % interval, or None (not measured).
    ``skip_count`` selects a U-HLM threshold on the grid of ``draws`` = K."""
    rows = meas[(meas["policy"] == policy) & (meas["seed"] == (1 if policy == "llm_only" else 0))]
    if skip_count is not None:
        rows = rows[(rows["threshold"] * draws).round() == skip_count]
    if rows.empty:
        return None
    r = rows.iloc[0]
    return [
        [r["cosine_to_llm"] - r["cosine_to_llm_lo"]],
        [r["cosine_to_llm_hi"] - r["cosine_to_llm"]],
    ]


def plot_accuracy(curve_dir: Path, points_dir: Path, table: Path, base: Path) -> list[Path]:
    """Draw the figure; ``base`` without suffix (PNG + PDF)."""
    from cuhlm_sim.accuracy.run import read_metadata

    curve, _ = read_sweep_dir(curve_dir)
    pts, _ = read_sweep_dir(points_dir)
    if f"{X}_mean" not in curve.columns or curve[f"{X}_mean"].isna().all():
        raise CuhlmError(f"{curve_dir}: the runs carry no accuracy_cosine (no accuracy table?)")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 4.8))
    meas = measured_intervals(table)
    floor = meas[(meas["policy"] == "llm_only") & (meas["seed"] != 0)]
    if len(floor):
        f = floor.iloc[0]
        ax.axvspan(f["cosine_to_llm_lo"], f["cosine_to_llm_hi"], color="0.92", zorder=0)
        ax.axvline(
            f["cosine_to_llm"],
            color="0.4",
            ls="--",
            lw=1,
            label="noise floor: LLM vs LLM (band: 95 % CI)",
        )
    c = curve.sort_values("policy.threshold")
    c = c[c[f"{X}_mean"].notna()]
    ax.errorbar(
        c[f"{X}_mean"],
        _col(c, Y, "mean"),
        yerr=_col(c, Y, "ci95"),
        marker="o",
        ms=3,
        lw=1.2,
        color="C0",
        label="U-HLM, $u_{th}$ = 0 … 1 (accuracy interpolated between measured $u_{th}$)",
    )
    draws = int(read_metadata(table)["options"]["K"])
    for _, row in c.iterrows():
        th = row["policy.threshold"]
        err = _xerr(meas, "uhlm", threshold_count(th, draws), draws)
        if err is None:  # an interpolated threshold: no interval of its own
            continue
        x, y = row[f"{X}_mean"], row[f"{Y}_mean"]
        ax.errorbar([x], [y], xerr=err, color="C0", capsize=3, lw=0.8, marker="o", ms=5)
        ax.annotate(f" $u_{{th}}$={th:g}", (x, y), fontsize=7, va="bottom")
    for i, (_, row) in enumerate(pts.iterrows()):
        kind = row["policy.kind"]
        x = row.get(f"{X}_mean")
        if x is None or pd.isna(x):
            continue
        ax.errorbar(
            [x],
            [row[f"{Y}_mean"]],
            xerr=_xerr(meas, TABLE_POLICY.get(kind, kind)),
            yerr=[row[f"{Y}_ci95"]],
            marker="s",
            ls="none",
            capsize=3,
            lw=0.8,
            color=f"C{i + 1}",
            label=NAMES.get(kind, kind),
        )
    ax.set_xlabel("accuracy: cosine similarity to the LLM-only output [–]")
    ax.set_ylabel("throughput per device [tok/s]")
    ax.set_title("Throughput vs measured accuracy (default cell, 20 phones; bars: 95 % CI)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _save(fig, base)
