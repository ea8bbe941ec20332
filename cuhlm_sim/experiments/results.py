"""Sweep results as tables: per point the mean, standard deviation and 95 % confidence interval
(Student t) of every metric over the repetitions, from the runs table that
:func:`cuhlm_sim.experiments.sweep.store.runs_frame` builds (the plan stays there)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cuhlm_sim.atomic import atomic_path

RUN_META = ("key", "point", "rep", "seed", "status", "error", "wall_time_s")


def flatten_summary(summary: Mapping[str, Any] | None) -> dict[str, float]:
    """Scalar metrics; a nested dict of scalars becomes ``name.sub`` columns; a flag
    (``steady_state``) becomes 1.0 / 0.0, so a point's mean is the share of its runs with it."""
    out: dict[str, float] = {}
    for name, value in (summary or {}).items():
        if name in ("batch_size_counts", "trace_prompt_counts", "window_s"):
            continue  # variable keys / not a metric
        if isinstance(value, dict):
            for sub, v in value.items():
                if v is None or isinstance(v, int | float):
                    out[f"{name}.{sub}"] = math.nan if v is None else float(v)
        elif value is None or isinstance(value, int | float):
            out[name] = math.nan if value is None else float(value)
    return out


@functools.lru_cache(maxsize=64)
def t975(dof: int) -> float:
    """Student-t quantile t_{0.975, dof}.

    ``scipy.special.stdtrit`` is the function ``scipy.stats.t.ppf`` evaluates (the same
    value, bit for bit), imported here on first use: ``scipy.stats`` costs about a second of
    start-up in every process that imports this module (each ``cuhlm`` command), for one
    number per repetition count.
    """
    from scipy.special import stdtrit

    return float(stdtrit(dof, 0.975))


def ci95_half_width(values: np.ndarray) -> float:
    """Student-t 95% half-width t_{0.975, n-1} s / sqrt(n); NaN below two values."""

    values = values[~np.isnan(values)]
    n = values.size
    if n < 2:
        return math.nan
    return float(t975(n - 1) * values.std(ddof=1) / math.sqrt(n))


def points_frame(runs: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """Per point: n_runs, n_failed and <metric>_mean / _std / _ci95 over successful runs."""
    if runs.empty:
        return pd.DataFrame()
    metric_cols = [c for c in runs.columns if c not in RUN_META and c not in axes]
    rows = []
    for point, grp in runs.groupby("point", sort=True):
        row: dict[str, Any] = {"point": point}
        row.update({k: grp[k].iloc[0] for k in axes})
        ok = grp[grp["status"] == "ok"]
        row["n_runs"] = len(ok)
        row["n_failed"] = len(grp) - len(ok)
        for m in metric_cols:
            v = ok[m].to_numpy(dtype=np.float64)
            finite = v[~np.isnan(v)]
            row[f"{m}_mean"] = float(finite.mean()) if finite.size else math.nan
            row[f"{m}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
            row[f"{m}_ci95"] = ci95_half_width(v)
        rows.append(row)
    return pd.DataFrame(rows)


def write_frame(df: pd.DataFrame, path: Path) -> None:
    """Parquet written beside its target then renamed, so readers never see half a file."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
