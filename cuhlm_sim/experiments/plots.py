"""Figures from sweep and capacity folders (seaborn on the Agg backend, PNG + PDF).

Each figure reads the aggregated files a command wrote: ``points.parquet`` (per-point mean and
Student-t 95% CI half-width over the repetitions, drawn as a band) or ``capacity.json``. A
figure is drawn only when its axis was swept: throughput needs ``devices.count``, the skip and
energy figures need ``policy.threshold``. Another swept parameter (``policy.kind`` first)
becomes the colour; a third one becomes columns of panels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cuhlm_sim.errors import CuhlmError, MissingExtraError
from cuhlm_sim.metrics.stages import Stage

log = logging.getLogger(__name__)

KINDS = ("throughput", "skip", "capacity", "latency", "latency_cdf", "energy")

LABELS = {
    "devices.count": "devices N",
    "channel.snr_db": "uplink SNR [dB]",
    "policy.threshold": "uncertainty threshold $u_{th}$ [–]",
    "policy.kind": "policy",
    "uplink.bandwidth_hz": "uplink bandwidth [Hz]",
    "throughput_tokens_per_s": "throughput [tok/s]",
    "skip_rate": "skip rate [–]",
    "true_skip_rate": "true skip rate [–]",
    "capacity": "capacity [devices]",
    "policy": "scheme",
}
_UNITS = (
    ("_tokens_per_s", "tok/s"),
    ("_per_token_j", "J/token"),
    ("_bits", "bit"),
    ("_hz", "Hz"),
    ("_db", "dB"),
    ("_j", "J"),
    ("_s", "s"),
)


def label(name: str) -> str:
    """Axis label with its unit, from LABELS or the name's unit suffix."""
    if name in LABELS:
        return LABELS[name]
    short = name.rsplit(".", 1)[-1]
    for suffix, unit in _UNITS:
        if short.endswith(suffix):
            return f"{short.removesuffix(suffix).replace('_', ' ')} [{unit}]"
    return f"{short.replace('_', ' ')} [–]"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import seaborn as sns
    except ImportError:
        raise MissingExtraError(
            "figures need matplotlib and seaborn: pip install -e '.[plots]'"
        ) from None
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    return plt


def _save(fig: Any, base: Path) -> list[Path]:
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".png"), base.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    _pyplot().close(fig)
    return paths


def read_sweep_dir(folder: Path) -> tuple[pd.DataFrame, list[str]]:
    """points.parquet and the swept axes (from sweep.json)."""
    points_path = folder / "points.parquet"
    if not points_path.is_file():
        raise CuhlmError(f"{folder}: no points.parquet (run `cuhlm sweep ... --out {folder}`)")
    points = pd.read_parquet(points_path)
    meta = folder / "sweep.json"
    if meta.is_file():
        axes = json.loads(meta.read_text(encoding="utf-8"))["axes"]
    else:
        stats = ("_mean", "_std", "_ci95")
        skip = {"point", "n_runs", "n_failed"}
        axes = [c for c in points.columns if c not in skip and not c.endswith(stats)]
    return points, axes


def _determined(points: pd.DataFrame, by: Sequence[str], col: str) -> bool:
    """True when ``col`` has one value per combination of ``by`` (e.g. a zipped partner)."""
    if not by:
        return points[col].nunique(dropna=False) <= 1
    counts = points.groupby(list(by), dropna=False)[col].nunique(dropna=False)
    return bool((counts <= 1).all())


def _groups(points: pd.DataFrame, axes: Sequence[str], x: str) -> tuple[str | None, str | None]:
    """Colour and panel-column parameters among the other varying axes.

    An axis zipped with a chosen one (``policy.tv_budget`` with ``policy.kind``) adds no group.
    """
    chosen = [x]
    others = [a for a in axes if a != x]
    others.sort(key=lambda a: a != "policy.kind")
    picked: list[str] = []
    for a in others:
        if len(picked) < 2 and not _determined(points, chosen, a):
            picked.append(a)
            chosen.append(a)
    dropped = [a for a in others if a not in picked and not _determined(points, chosen, a)]
    if dropped:
        log.warning("plots: %s vary too; showing their first value only", ", ".join(dropped))
    return (picked[0] if picked else None, picked[1] if len(picked) > 1 else None)


def _first_values(points: pd.DataFrame, axes: Sequence[str], keep: Sequence[str]) -> pd.DataFrame:
    """Keep the first value of every axis not shown (and not zipped with a shown one)."""
    for a in axes:
        if a not in keep and not _determined(points, keep, a):
            points = points[points[a] == points[a].iloc[0]]
    return points


def line_figure(
    points: pd.DataFrame, axes: Sequence[str], x: str, metrics: Sequence[str], title: str
) -> Any:
    """One panel per metric (x panel-column value): mean line, 95% CI band, colour = hue."""
    import seaborn as sns

    plt = _pyplot()
    hue, col = _groups(points, axes, x)
    points = _first_values(points, axes, [x, *(a for a in (hue, col) if a)])
    col_values = sorted(points[col].unique()) if col else [None]
    hue_values = list(dict.fromkeys(points[hue])) if hue else [None]
    palette = sns.color_palette(n_colors=max(len(hue_values), 1))
    ncols = len(metrics) * len(col_values)
    fig, axs = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.4), squeeze=False)
    for j, (metric, cv) in enumerate((m, c) for m in metrics for c in col_values):
        ax = axs[0, j]
        sub = points if col is None else points[points[col] == cv]
        for color, hv in zip(palette, hue_values, strict=False):
            g = (sub if hue is None else sub[sub[hue] == hv]).sort_values(x)
            mean = g[f"{metric}_mean"].to_numpy(dtype=float)
            ci = np.nan_to_num(g[f"{metric}_ci95"].to_numpy(dtype=float))
            xs = g[x].to_numpy(dtype=float)
            ax.plot(xs, mean, marker="o", color=color, label=None if hue is None else str(hv))
            ax.fill_between(xs, mean - ci, mean + ci, color=color, alpha=0.2, linewidth=0)
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(metric))
        if col is not None:
            ax.set_title(f"{label(col)} = {cv}")
        if hue is not None and j == 0:
            ax.legend(title=label(hue))
    fig.suptitle(f"{title} (mean, 95% CI)")
    fig.tight_layout()
    return fig


def plot_throughput(points: pd.DataFrame, axes: Sequence[str], base: Path) -> list[Path]:
    fig = line_figure(
        points, axes, "devices.count", ["throughput_tokens_per_s"], "Throughput vs devices"
    )
    return _save(fig, base)


def plot_skip(points: pd.DataFrame, axes: Sequence[str], base: Path) -> list[Path]:
    fig = line_figure(
        points, axes, "policy.threshold", ["skip_rate", "true_skip_rate"], "Skip rates"
    )
    return _save(fig, base)


def energy_metrics(points: pd.DataFrame) -> list[str]:
    """Energy-per-token metrics present in the sweep (none when the model has no energy)."""
    return [
        c.removesuffix("_mean")
        for c in points.columns
        if c.endswith("energy_per_token_j_mean") and points[c].notna().any()
    ]


def plot_energy(points: pd.DataFrame, axes: Sequence[str], base: Path) -> list[Path]:
    fig = line_figure(points, axes, "policy.threshold", energy_metrics(points), "Energy per token")
    return _save(fig, base)


def plot_latency_breakdown(points: pd.DataFrame, axes: Sequence[str], base: Path) -> list[Path]:
    """Stacked bars of the mean per-stage latency; they add up to the mean token latency.

    With ``policy.kind`` and another varying axis, each policy gets its own panel.
    """
    import seaborn as sns

    plt = _pyplot()
    varying: list[str] = []
    for a in axes:  # name bars by the varying axes, skipping zipped partners
        if not _determined(points, varying, a):
            varying.append(a)
    panel = "policy.kind" if "policy.kind" in varying and len(varying) > 1 else None
    bar_axes = [a for a in varying if a != panel]
    panels = list(dict.fromkeys(points[panel])) if panel else [None]
    n_bars = max(len(points) // len(panels), 1)
    fig, axs = plt.subplots(
        1,
        len(panels),
        figsize=(len(panels) * max(3.5, 0.45 * n_bars + 1.5) + 1.5, 3.8),
        sharey=True,
        squeeze=False,
    )
    colors = sns.color_palette(n_colors=len(Stage))
    for ax, pv in zip(axs[0], panels, strict=True):
        sub = points if panel is None else points[points[panel] == pv]
        if len(bar_axes) == 1:
            names = [f"{v:g}" if isinstance(v, float) else str(v) for v in sub[bar_axes[0]]]
            ax.set_xlabel(label(bar_axes[0]))
        else:
            names = [
                ", ".join(f"{a.rsplit('.', 1)[-1]}={r[a]}" for a in bar_axes)
                for _, r in sub.iterrows()
            ]
        xs = np.arange(len(sub))
        bottom = np.zeros(len(sub))
        for color, stage in zip(colors, Stage, strict=True):
            col = f"latency_breakdown_s.{stage.key}_mean"
            if col in sub:
                vals = np.nan_to_num(sub[col].to_numpy(dtype=float))
                ax.bar(xs, vals, bottom=bottom, color=color, label=stage.name.lower())
                bottom += vals
        if "mean_token_latency_s_ci95" in sub:
            ci = np.nan_to_num(sub["mean_token_latency_s_ci95"].to_numpy(dtype=float))
            ax.errorbar(xs, bottom, yerr=ci, fmt="none", ecolor="black", capsize=3)
        rotate = 0 if len(bar_axes) == 1 and n_bars <= 12 else 60
        ax.set_xticks(xs, names, rotation=rotate, ha="right" if rotate else "center")
        if panel is not None:
            ax.set_title(f"{label(panel)} = {pv}")
    axs[0, 0].set_ylabel("mean token latency [s]")
    axs[0, -1].legend(title="stage", bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.suptitle("Latency per stage (error bar: 95% CI of the total)")
    fig.tight_layout()
    return _save(fig, base)


def plot_latency_cdf(points: pd.DataFrame, axes: Sequence[str], base: Path) -> list[Path]:
    """Token-latency CDF of every point, from the quantiles in summary.json (mean over the
    repetitions; the band is the 95% CI of each quantile)."""
    from cuhlm_sim.metrics.compute import LATENCY_CDF_PROBS

    plt = _pyplot()
    cols = [f"token_latency_quantiles_s.q{round(q * 100):02d}" for q in LATENCY_CDF_PROBS]
    varying: list[str] = []
    for a in axes:
        if not _determined(points, varying, a):
            varying.append(a)
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    probs = np.asarray(LATENCY_CDF_PROBS)
    if len(points) > 8:  # more curves than a reader can tell apart: every k-th point
        points = points.iloc[np.linspace(0, len(points) - 1, 8).round().astype(int)]
    for _, row in points.iterrows():
        x = np.array([row.get(f"{c}_mean", np.nan) for c in cols], dtype=float)
        ci = np.array([row.get(f"{c}_ci95", np.nan) for c in cols], dtype=float)
        name = ", ".join(f"{a.rsplit('.', 1)[-1]}={row[a]}" for a in varying) or "run"
        (line,) = ax.plot(x, probs, marker=".", label=name)
        if np.isfinite(ci).any():
            ci = np.nan_to_num(ci)
            ax.fill_betweenx(probs, x - ci, x + ci, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("token latency [s]")
    ax.set_ylabel("P(token latency <= x)")
    ax.legend(fontsize="small", bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.suptitle("Token-latency CDF")
    fig.tight_layout()
    return _save(fig, base)


def plot_capacity(capacity_json: Path, base: Path) -> list[Path]:
    """Capacity vs the first --over axis; colour = a second axis (e.g. policy.kind).

    Bars span [lower, upper): the search's bracket (capacity = lower).
    """
    import seaborn as sns

    plt = _pyplot()
    data = json.loads(capacity_json.read_text(encoding="utf-8"))
    entries = data["entries"]
    if not entries or entries[0]["key"] is None:
        raise CuhlmError(f"{capacity_json}: no --over axis to plot against")
    x = entries[0]["key"]
    rest = [k for k in entries[0]["params"] if k != x]
    hue = rest[0] if rest else None
    hue_values = list(dict.fromkeys(e["params"][hue] for e in entries)) if hue else [None]
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for color, hv in zip(sns.color_palette(n_colors=len(hue_values)), hue_values, strict=True):
        es = [e for e in entries if hue is None or e["params"][hue] == hv]
        es.sort(key=lambda e: e["value"])
        xs = np.array([e["value"] for e in es], dtype=float)
        cap = np.array([e["capacity"] for e in es], dtype=float)
        up = np.array([e["upper"] - 1 for e in es], dtype=float)
        ax.plot(xs, cap, marker="o", color=color, label=None if hue is None else str(hv))
        ax.fill_between(xs, cap, np.maximum(cap, up), color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel(label(x))
    ax.set_ylabel(label("capacity"))
    ax.set_title("Capacity: " + " and ".join(data.get("slos", [])), fontsize=9)
    if hue is not None:
        ax.legend(title=label(hue))
    fig.tight_layout()
    return _save(fig, base)


def plot_dir(folder: Path, kind: str = "auto", out: Path | None = None) -> list[Path]:
    """Draw ``kind`` (or every figure the folder supports) into ``out`` (default DIR/figures)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CuhlmError(f"{folder}: not a folder")
    if kind != "auto" and kind not in KINDS:
        raise CuhlmError(f"--kind {kind!r}: expected auto or one of {', '.join(KINDS)}")
    _pyplot()  # the plots extra is installed
    out = out or folder / "figures"
    cap = folder / "capacity.json"
    has_points = (folder / "points.parquet").is_file()
    if kind == "capacity" or (kind == "auto" and cap.is_file()):
        if not cap.is_file():
            raise CuhlmError(f"{folder}: no capacity.json (run `cuhlm capacity ... --out DIR`)")
        written = plot_capacity(cap, out / "capacity")
        if kind == "capacity" or not has_points:
            return written
    else:
        written = []
    points, axes = read_sweep_dir(folder)
    points = points[points["n_runs"] > 0]
    needs: dict[str, tuple[bool, str, Callable[..., list[Path]]]] = {
        "throughput": ("devices.count" in axes, "devices.count", plot_throughput),
        "skip": ("policy.threshold" in axes, "policy.threshold", plot_skip),
        "latency": (True, "", plot_latency_breakdown),
        "latency_cdf": (
            "token_latency_quantiles_s.q50_mean" in points,
            "token_latency_quantiles_s (rerun the sweep)",
            plot_latency_cdf,
        ),
        "energy": (
            "policy.threshold" in axes and bool(energy_metrics(points)),
            "policy.threshold and an energy_per_token_j metric",
            plot_energy,
        ),
    }
    for name, (ok, need, fn) in needs.items():
        if kind not in ("auto", name):
            continue
        if not ok:
            if kind == name:
                raise CuhlmError(f"--kind {name}: {folder} did not sweep {need}")
            continue
        written += fn(points, axes, out / name)
    return written
