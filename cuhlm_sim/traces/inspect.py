"""Summary of a token trace: what it holds and what its numbers say.

Used by ``cuhlm traces inspect``; the fit and its table in ``traces/README.md`` are in
:mod:`cuhlm_sim.traces.fit`, which reads traces through :func:`read_trace`. Returns plain data;
only the CLI prints.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.grid import draws_from_meta, grid_uncertainty
from cuhlm_sim.traces.io import check_trace_table
from cuhlm_sim.traces.schema import METADATA_KEY

#: Quantiles of u reported by :func:`summarize`.
U_QUANTILES: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


def read_trace(path: Path) -> tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]:
    """Scalar columns as a DataFrame, the JSON metadata, and per-k columns as [n, G] arrays."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise TraceError(f"{path}: not a readable Parquet file ({exc})") from None
    md = table.schema.metadata or {}
    try:
        meta = json.loads(md[METADATA_KEY]) if METADATA_KEY in md else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: metadata is not valid JSON ({exc})") from None
    check_trace_table(table, meta, str(path))  # the same checks as `cuhlm run`
    lists: dict[str, np.ndarray] = {}
    scalars = []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_fixed_size_list(col.type):
            g = col.type.list_size
            flat = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
            lists[name] = flat.reshape(-1, g)  # [n, G]
        else:
            scalars.append(name)
    df = table.select(scalars).to_pandas()
    for c in ("seq_id", "prompt_id", "kind"):
        if c in df and isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    # u exactly k/K in float64 (float32 k/K misplaces rows at grid thresholds).
    df["uncertainty"], _, _ = grid_uncertainty(
        df["uncertainty"].to_numpy(),
        df["u_count"].to_numpy() if "u_count" in df else None,
        draws_from_meta(meta),
        str(path),
    )
    return df, meta, lists


def payload_bits(k: int, vocab_size: int, prob_bits: int = 8) -> int:
    """B(k) = min(k, |V|)·(b_p + ⌈log2 |V|⌉) (``docs/theory.md`` §5)."""
    return min(k, vocab_size) * (prob_bits + math.ceil(math.log2(vocab_size)))


@dataclass
class TraceSummary:
    """Headline numbers of one trace (per kind and overall)."""

    path: str
    rows: int
    prompts_by_kind: dict[str, int]
    rows_by_kind: dict[str, int]
    alpha_mean: dict[str, float]
    accept_rate: dict[str, float]
    accept_prob_mean: dict[str, float]
    u_mean: dict[str, float]
    u_quantiles: dict[str, float]
    u_hist_edges: list[float]
    u_hist_counts: list[int]
    vocab_size: int | None
    prob_bits: int
    k_grid: list[int]
    payload_bits: list[int]
    topk_l1_mean: list[float] = field(default_factory=list)
    topk_accept_mean: list[float] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _by_kind(df: pd.DataFrame, col: str) -> dict[str, float]:
    out = {str(k): float(v) for k, v in df.groupby("kind", sort=True)[col].mean().items()}
    out["all"] = float(df[col].mean())
    return out


def summarize(path: Path, prob_bits: int = 8, vocab_size: int | None = None) -> TraceSummary:
    """Summarise a trace; ``vocab_size`` overrides the metadata (to reproduce paper payloads)."""
    df, meta, lists = read_trace(path)
    if df.empty:
        raise TraceError(f"{path}: trace has no rows")
    V = vocab_size or meta.get("vocab_size")
    k_grid = list(meta.get("k_grid", []))
    pid = "prompt_id" if "prompt_id" in df else "seq_id"
    prompts = {str(k): int(v) for k, v in df.groupby("kind", sort=True)[pid].nunique().items()}
    rows = {str(k): int(v) for k, v in df.groupby("kind", sort=True).size().items()}
    u = df["uncertainty"].to_numpy(dtype=np.float64)
    edges = np.linspace(0.0, 1.0, 11)
    counts, _ = np.histogram(u, bins=edges)
    alpha = _by_kind(df, "overlap_alpha") if "overlap_alpha" in df else {}
    keep_meta = {
        k: meta.get(k)
        for k in ("created_utc", "mode", "K", "theta_max", "seed", "n_prompts", "n_tokens")
    }
    keep_meta["draft"] = meta.get("draft_model", {}).get("name")
    keep_meta["target"] = meta.get("target_model", {}).get("name")
    return TraceSummary(
        path=str(path),
        rows=len(df),
        prompts_by_kind=prompts,
        rows_by_kind=rows,
        alpha_mean=alpha,
        accept_rate=_by_kind(df.assign(accepted=df["accepted"].astype(float)), "accepted"),
        accept_prob_mean=_by_kind(df, "accept_prob"),
        u_mean=_by_kind(df, "uncertainty"),
        u_quantiles={f"q{q:g}": float(np.quantile(u, q)) for q in U_QUANTILES},
        u_hist_edges=[float(e) for e in edges],
        u_hist_counts=[int(c) for c in counts],
        vocab_size=V,
        prob_bits=prob_bits,
        k_grid=k_grid,
        payload_bits=[payload_bits(k, V, prob_bits) for k in k_grid] if V else [],
        topk_l1_mean=[float(x) for x in lists["topk_l1"].mean(0)] if "topk_l1" in lists else [],
        topk_accept_mean=(
            [float(x) for x in lists["topk_accept_prob"].mean(0)]
            if "topk_accept_prob" in lists
            else []
        ),
        meta=keep_meta,
    )
