"""Figures from sweep and capacity folders (seaborn on the Agg backend, PNG + PDF).

Each figure reads the aggregated files a command wrote: ``points.parquet`` (per-point mean and
Student-t 95% CI half-width over the repetitions, drawn as a band) or ``capacity.json``. A
figure is drawn only when its axis was swept: throughput needs ``devices.count``, the skip and
energy figures need ``policy.threshold``. Another swept parameter (``policy.kind`` first)
becomes the colour; a third one becomes columns of panels.

Figures respect physics and say what they show: a band never leaves its metric's range
(:data:`METRIC_RANGES`, declared once per metric), every scheme has one display name
(:data:`SCHEME_NAMES`), no curve is dropped without the figure saying so, and device counts
are integers.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cuhlm_sim.errors import CuhlmError, MissingExtraError
from cuhlm_sim.metrics.stages import Stage

log = logging.getLogger(__name__)

KINDS = ("throughput", "skip", "capacity", "latency", "latency_cdf", "energy")

#: The one display name of each scheme (``policy.kind``), in every figure and legend.
SCHEME_NAMES: dict[str, str] = {
    "hlm": "HLM",
    "uhlm": "U-HLM",
    "cuhlm": "CU-HLM",
    "ihlm": "IU-HLM",
    "random_skip": "Rand-HLM",
    "slm_only": "SLM only",
    "llm_only": "LLM only",
    "uhlm_adaptive": "channel-adaptive U-HLM",
}
#: Axes whose values are scheme kinds.
SCHEME_AXES = ("policy.kind", "policy")

UNIT = (0.0, 1.0)
NONNEGATIVE = (0.0, math.inf)
#: Physical range of every scalar metric of summary.json (and of its nested groups, by prefix
#: ending in "."): a band or error bar is clipped to it. Shares, rates per token, utilisations,
#: fairness indices and distances between laws are fractions; counts, times, energies, bits
#: and rates per second cannot be negative; a cosine lies in [-1, 1].
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(
        (
            "skip_rate",
            "transmission_rate",
            "true_skip_rate",
            "true_skip_rate_expected",
            "skip_error_rate",
            "rejection_rate",
            "exact_rejection_rate",
            "output_tv_distance",
            "acceptance_rate",
            "llm_calls_per_token",
            "payload_compression",
            "gpu_utilization",
            "uplink_utilization",
            "jain_fairness",
            "uplink_jain_fairness",
            "rb_jain_fairness",
            "trace_skip_fraction",
            "accuracy_pass1",
            "steady_state",  # a flag: a point's mean is the share of runs in steady state
        ),
        UNIT,
    ),
    "accuracy_cosine": (-1.0, 1.0),
    **dict.fromkeys(
        (
            "tokens_generated",
            "throughput_tokens_per_s",
            "throughput_per_device_tokens_per_s",
            "uplink_bits_per_transmission",
            "full_payload_bits",
            "mean_truncation_k",
            "mean_token_latency_s",
            "p50_token_latency_s",
            "p95_token_latency_s",
            "p99_token_latency_s",
            "token_latency_quantiles_s.",
            "mean_verified_token_latency_s",
            "p95_verified_token_latency_s",
            "mean_request_latency_s",
            "p95_request_latency_s",
            "request_throughput_per_s",
            "p95_tpot_s",
            "mean_gpu_queue_wait_s",
            "mean_uplink_queue_s",
            "mean_airtime_s",
            "p95_gpu_queue_wait_s",
            "p99_gpu_queue_wait_s",
            "mean_gpu_queue_length",
            "gpu_arrival_rate_per_s",
            "mean_uplink_active",
            "uplink_arrival_rate_per_s",
            "mean_batch_size",
            "batch_size_counts.",
            "device_energy_per_token_j",
            "server_energy_per_token_j",
            "system_energy_per_token_j",
            "energy_breakdown_j.",
            "latency_breakdown_s.",
            "verified_latency_breakdown_s.",
            "device_token_time_s",
            "mean_spectral_efficiency_bps_hz",
            "requests_completed",
            "warmup_used_s",
            "simpy_events",
            "wall_time_s",
        ),
        NONNEGATIVE,
    ),
}


def metric_range(metric: str) -> tuple[float, float]:
    """(lowest, highest) physical value of ``metric``; unbounded when it is not declared."""
    if metric in METRIC_RANGES:
        return METRIC_RANGES[metric]
    group = metric.split(".", 1)[0] + "."
    return METRIC_RANGES.get(group, (-math.inf, math.inf))


def band(metric: str, mean: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mean -/+ half-width, clipped to the metric's physical range (NaN half-width = 0)."""
    lo, hi = metric_range(metric)
    half = np.nan_to_num(np.asarray(half, dtype=float))
    return np.clip(mean - half, lo, hi), np.clip(mean + half, lo, hi)


def scheme_name(kind: Any) -> str:
    """Display name of a scheme; a name that is no kind is shown as it is."""
    return SCHEME_NAMES.get(str(kind), str(kind))


def value_text(axis: str, value: Any) -> str:
    """How a value of a swept axis appears in legends, titles and tick labels."""
    if axis in SCHEME_AXES:
        return scheme_name(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


LABELS = {
    "devices.count": "devices N",
    "channel.snr_db": "uplink SNR [dB]",
    "policy.threshold": "uncertainty threshold $u_{th}$ [–]",
    "policy.kind": "scheme",
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


def _read_json(path: Path, *keys: str) -> dict[str, Any]:
    """A result folder's JSON file, with ``keys``; a damaged one is a user error naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CuhlmError(f"{path}: not a readable JSON file ({exc})") from None
    missing = [k for k in keys if not isinstance(data, dict) or k not in data]
    if missing:
        raise CuhlmError(f"{path}: lacks {', '.join(missing)}; was it written by cuhlm?")
    return data


def read_sweep_dir(folder: Path) -> tuple[pd.DataFrame, list[str]]:
    """points.parquet and the swept axes (from sweep.json)."""
    points_path = folder / "points.parquet"
    if not points_path.is_file():
        raise CuhlmError(f"{folder}: no points.parquet (run `cuhlm sweep ... --out {folder}`)")
    try:
        points = pd.read_parquet(points_path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CuhlmError(
            f"{points_path}: not a readable Parquet file ({first}); rerun the sweep to rewrite it"
        ) from None
    if "n_runs" not in points:
        raise CuhlmError(f"{points_path}: no n_runs column; not a points table of `cuhlm sweep`")
    meta = folder / "sweep.json"
    if meta.is_file():
        axes = list(_read_json(meta, "axes")["axes"])
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
            lower, upper = band(metric, mean, g[f"{metric}_ci95"].to_numpy(dtype=float))
            xs = g[x].to_numpy(dtype=float)
            name = None if hue is None else value_text(hue, hv)
            ax.plot(xs, mean, marker="o", color=color, label=name)
            ax.fill_between(xs, lower, upper, color=color, alpha=0.2, linewidth=0)
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(metric))
        if x == "devices.count":
            _integer_ticks(ax.xaxis)
        if col is not None:
            ax.set_title(f"{label(col)} = {value_text(col, cv)}")
        if hue is not None and j == 0:
            ax.legend(title=label(hue))
    fig.suptitle(f"{title} (mean, 95% CI)")
    fig.tight_layout()
    return fig


def _integer_ticks(axis: Any) -> None:
    """Whole-number ticks only (device counts)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


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
            names = [value_text(bar_axes[0], v) for v in sub[bar_axes[0]]]
            ax.set_xlabel(label(bar_axes[0]))
        else:
            names = [_point_name(r, bar_axes) for _, r in sub.iterrows()]
        xs = np.arange(len(sub))
        bottom = np.zeros(len(sub))
        for color, stage in zip(colors, Stage, strict=True):
            col = f"latency_breakdown_s.{stage.key}_mean"
            if col in sub:
                vals = np.nan_to_num(sub[col].to_numpy(dtype=float))
                ax.bar(xs, vals, bottom=bottom, color=color, label=stage.name.lower())
                bottom += vals
        if "mean_token_latency_s_ci95" in sub:
            ci = sub["mean_token_latency_s_ci95"].to_numpy(dtype=float)
            lower, upper = band("mean_token_latency_s", bottom, ci)
            yerr = np.vstack([bottom - lower, upper - bottom])
            ax.errorbar(xs, bottom, yerr=yerr, fmt="none", ecolor="black", capsize=3)
        rotate = 0 if len(bar_axes) == 1 and n_bars <= 12 else 60
        ax.set_xticks(xs, names, rotation=rotate, ha="right" if rotate else "center")
        if panel is not None:
            ax.set_title(f"{label(panel)} = {value_text(panel, pv)}")
    axs[0, 0].set_ylabel("mean token latency [s]")
    axs[0, -1].legend(title="stage", bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.suptitle("Latency per stage (error bar: 95% CI of the total)")
    fig.tight_layout()
    return _save(fig, base)


#: Curves one latency-CDF panel holds; more points are split over several panels.
CDF_CURVES_PER_PANEL = 8
#: Most panels one value per panel of an axis may give (more: split the points in order).
CDF_MAX_FACETS = 6


def _point_name(row: pd.Series, axes: Sequence[str]) -> str:
    """Legend name of a point: the scheme by its display name, other axes as key=value."""
    parts = [
        value_text(a, row[a])
        if a in SCHEME_AXES
        else f"{a.rsplit('.', 1)[-1]}={value_text(a, row[a])}"
        for a in axes
    ]
    return ", ".join(parts) or "run"


def _cdf_panels(
    points: pd.DataFrame, varying: Sequence[str]
) -> list[tuple[str | None, str | None, pd.DataFrame]]:
    """(panel title, axis the panel fixes, points) with at most CDF_CURVES_PER_PANEL each.

    Prefers one panel per value of a varying axis (the scheme first) when that gives at most
    CDF_MAX_FACETS panels of several curves each; otherwise splits the points in order into
    equal panels. Every point is drawn in exactly one panel.
    """
    n = len(points)
    if n <= CDF_CURVES_PER_PANEL:
        return [(None, None, points)]
    for a in sorted(varying, key=lambda a: a not in SCHEME_AXES):
        groups = list(points.groupby(a, sort=False, dropna=False))
        sizes = [len(g) for _, g in groups]
        if 1 < len(groups) <= CDF_MAX_FACETS and 1 < min(sizes) <= max(sizes) <= (
            CDF_CURVES_PER_PANEL
        ):
            return [(f"{label(a)} = {value_text(a, v)}", a, g) for v, g in groups]
    k = math.ceil(n / CDF_CURVES_PER_PANEL)
    out: list[tuple[str | None, str | None, pd.DataFrame]] = []
    for idx in np.array_split(np.arange(n), k):
        out.append((f"points {idx[0] + 1}–{idx[-1] + 1} of {n}", None, points.iloc[idx]))
    return out


def latency_cdf_figure(points: pd.DataFrame, axes: Sequence[str]) -> Any:
    """Token-latency CDF of every point, from the quantiles in summary.json (mean over the
    repetitions; the band is the 95% CI of each quantile, never below 0 s). More than
    CDF_CURVES_PER_PANEL points are faceted, so no curve is left out."""
    from cuhlm_sim.metrics.compute import LATENCY_CDF_PROBS

    plt = _pyplot()
    cols = [f"token_latency_quantiles_s.q{round(q * 100):02d}" for q in LATENCY_CDF_PROBS]
    varying: list[str] = []
    for a in axes:
        if not _determined(points, varying, a):
            varying.append(a)
    panels = _cdf_panels(points, varying)
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axs = plt.subplots(
        nrows,
        ncols,
        figsize=(6.0 if len(panels) == 1 else 4.6 * ncols, 4.0 * nrows),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    probs = np.asarray(LATENCY_CDF_PROBS)
    for ax, (title, fixed, sub) in zip(axs.flat, panels, strict=False):
        names_from = [a for a in varying if a != fixed]
        for _, row in sub.iterrows():
            x = np.array([row.get(f"{c}_mean", np.nan) for c in cols], dtype=float)
            ci = np.array([row.get(f"{c}_ci95", np.nan) for c in cols], dtype=float)
            (line,) = ax.plot(x, probs, marker=".", label=_point_name(row, names_from))
            if np.isfinite(ci).any():
                lower, upper = band(cols[0], x, ci)
                ax.fill_betweenx(probs, lower, upper, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log")
        if title is not None:
            ax.set_title(title, fontsize="medium")
        if len(panels) == 1:
            ax.legend(fontsize="small", bbox_to_anchor=(1.01, 1), loc="upper left")
        else:
            ax.legend(fontsize="x-small", loc="lower right")
    for i in range(len(panels), nrows * ncols):  # an empty slot: the panel above shows x
        axs.flat[i].set_visible(False)
        axs.flat[i - ncols].xaxis.set_tick_params(labelbottom=True)
        axs.flat[i - ncols].set_xlabel("token latency [s]")
    for ax in axs[-1, : len(panels) - (nrows - 1) * ncols]:
        ax.set_xlabel("token latency [s]")
    for ax in axs[:, 0]:
        ax.set_ylabel("P(token latency <= x)")
    fig.suptitle("Token-latency CDF (mean over repetitions, 95% CI)")
    fig.tight_layout()
    return fig


def plot_latency_cdf(points: pd.DataFrame, axes: Sequence[str], base: Path) -> list[Path]:
    """The token-latency CDF figure (:func:`latency_cdf_figure`) as PNG and PDF."""
    return _save(latency_cdf_figure(points, axes), base)


_OPS_TEXT = {"<=": "≤", "<": "<", ">=": "≥", ">": ">"}


def slo_text(slo: str) -> str:
    """``p95_token_latency_s<=1.5`` as a reader says it: ``p95 token latency ≤ 1.5 s``."""
    from cuhlm_sim.experiments.capacity import parse_slo

    try:
        parsed = parse_slo(slo)
    except CuhlmError:
        return slo
    name, _, unit = label(parsed.metric).partition(" [")
    unit = unit.rstrip("]")
    value = f"{parsed.threshold:g}" + ("" if unit in ("", "–") else f" {unit}")
    return f"{name} {_OPS_TEXT[parsed.op]} {value}"


def capacity_figure(data: dict[str, Any], source: str = "capacity.json") -> Any:
    """Capacity vs the first --over axis; colour = a second axis (e.g. the scheme).

    Point: the capacity (largest count whose mean over the repetitions meets every SLO).
    Error bar: from the smallest to the largest capacity of a single repetition
    (:func:`~cuhlm_sim.experiments.capacity.repetition_capacities`: lower ends of the
    repetitions' brackets, upper ends where a repetition's first failure is known).
    Band: the search's bracket [capacity, upper - 1] when it stopped coarser than 1 device.
    """
    import seaborn as sns

    from cuhlm_sim.experiments.capacity import parse_slo, repetition_capacities

    plt = _pyplot()
    entries = data["entries"]
    if not entries or entries[0]["key"] is None:
        raise CuhlmError(f"{source}: no --over axis to plot against")
    slos = [parse_slo(s) for s in data.get("slos", [])]
    x = entries[0]["key"]
    rest = [k for k in entries[0]["params"] if k != x]
    hue = rest[0] if rest else None
    hue_values = list(dict.fromkeys(e["params"][hue] for e in entries)) if hue else [None]
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    for color, hv in zip(sns.color_palette(n_colors=len(hue_values)), hue_values, strict=True):
        es = [e for e in entries if hue is None or e["params"][hue] == hv]
        es.sort(key=lambda e: e["value"])
        xs = np.array([e["value"] for e in es], dtype=float)
        cap = np.array([e["capacity"] for e in es], dtype=float)
        up = np.array([e["upper"] - 1 for e in es], dtype=float)
        low, high = cap.copy(), cap.copy()
        for i, e in enumerate(es):
            reps = repetition_capacities(e, slos)
            if reps:
                low[i] = min(lo for lo, _ in reps)
                high[i] = max(lo if hi is None else hi - 1 for lo, hi in reps)
        name = None if hue is None else value_text(hue, hv)
        ax.errorbar(
            xs,
            cap,
            yerr=np.vstack([np.maximum(cap - low, 0), np.maximum(high - cap, 0)]),
            marker="o",
            color=color,
            capsize=3,
            label=name,
        )
        ax.fill_between(xs, cap, np.maximum(cap, up), color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel(label(x))
    ax.set_ylabel(label("capacity"))
    ax.set_ylim(bottom=0)
    _integer_ticks(ax.yaxis)
    conditions = " and ".join(slo_text(s) for s in data.get("slos", []))
    reps = data.get("repetitions")
    mean_of = f"mean of {reps} repetitions" if reps else "mean over repetitions"
    ax.set_title(
        f"Capacity: most devices with {conditions}\n({mean_of}; bars: range of single repetitions)",
        fontsize=9,
    )
    if hue is not None:
        ax.legend(title=label(hue))
    fig.tight_layout()
    return fig


def plot_capacity(capacity_json: Path, base: Path) -> list[Path]:
    """The capacity figure (:func:`capacity_figure`) of a capacity.json, PNG and PDF."""
    data = _read_json(capacity_json, "entries")
    return _save(capacity_figure(data, str(capacity_json)), base)


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
