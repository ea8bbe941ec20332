"""The trace catalogue (``cuhlm traces list``): one line of headline numbers per trace file.

For every Parquet trace under a folder: the pair (draft → target) and its size ratio (target
over draft parameters, or file bytes for traces recorded before parameter counts were), rows,
prompts per kind, mean overlap α, accept rate, the fitted rejection line β ≈ a·u + b
(:mod:`cuhlm_sim.traces.fit`), the temperatures, the device it was made on and whether it has
the importance column. Work folders of unfinished runs (``*.parts``) are not traces and are
skipped; other files that are not traces are reported with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.fit import fit_frame
from cuhlm_sim.traces.inspect import read_trace
from cuhlm_sim.traces.schema import KINDS


@dataclass(frozen=True)
class CatalogueEntry:
    """One trace's headline numbers."""

    file: str
    pair: str
    size_ratio: float | None
    size_basis: str | None  # "params" | "bytes" | None
    rows: int
    prompts_per_kind: dict[str, int]
    mean_alpha: float | None
    accept_rate: float
    fit_a: float | None
    fit_b: float | None
    temperature_draft: float | None
    temperature_target: float | None
    device: str | None
    importance: bool
    mode: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def size_ratio_text(self) -> str:
        """``3.0×`` (parameters) or ``2.3× bytes``; ``-`` when unknown."""
        if self.size_ratio is None:
            return "-"
        suffix = "" if self.size_basis == "params" else f" {self.size_basis}"
        return f"{self.size_ratio:.1f}×{suffix}"

    def temperature_text(self) -> str:
        """One number when draft and target share it, else ``draft/target``."""
        d, t = self.temperature_draft, self.temperature_target
        if d is None and t is None:
            return "-"
        return f"{d:g}" if d == t else f"{d}/{t}"


def _size_ratio(meta: dict[str, Any]) -> tuple[float | None, str | None]:
    d, t = meta.get("draft_model") or {}, meta.get("target_model") or {}
    for key, basis in (("params", "params"), ("bytes", "bytes")):
        if d.get(key) and t.get(key):
            return float(t[key]) / float(d[key]), basis
    return None, None


def entry(path: Path, root: Path) -> CatalogueEntry:
    """Read one trace and summarise it (TraceError if it is not a trace)."""
    df, meta, _ = read_trace(path)
    if df.empty:
        raise TraceError("no rows")
    draft = (meta.get("draft_model") or {}).get("name")
    target = (meta.get("target_model") or {}).get("name")
    pair = f"{draft} → {target}" if draft or target else str(meta.get("mode") or "?")
    pid = "prompt_id" if "prompt_id" in df else "seq_id"
    by_kind = df.groupby("kind", sort=False)[pid].nunique()
    order = sorted(by_kind.index, key=lambda k: (KINDS.index(k) if k in KINDS else 99, k))
    try:
        fit = fit_frame(df)
        a, b = fit.a, fit.b
    except (TraceError, ValueError, np.linalg.LinAlgError):
        a = b = None
    ratio, basis = _size_ratio(meta)
    return CatalogueEntry(
        file=str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
        pair=pair,
        size_ratio=ratio,
        size_basis=basis,
        rows=len(df),
        prompts_per_kind={str(k): int(by_kind[k]) for k in order},
        mean_alpha=float(df["overlap_alpha"].mean()) if "overlap_alpha" in df else None,
        accept_rate=float(df["accepted"].astype(float).mean()),
        fit_a=a,
        fit_b=b,
        temperature_draft=meta.get("temperature_draft"),
        temperature_target=meta.get("temperature_target"),
        device=meta.get("device"),
        importance="importance" in df,
        mode=meta.get("mode"),
    )


def catalogue(folder: Path) -> tuple[list[CatalogueEntry], list[tuple[str, str]]]:
    """Every trace under ``folder`` (sorted by path), and (path, reason) for Parquet files
    that are not traces. ``*.parts`` work folders are skipped silently."""
    root = Path(folder)
    if not root.is_dir():
        raise TraceError(f"{root}: no such folder")
    entries, skipped = [], []
    for path in sorted(root.rglob("*.parquet")):
        if any(part.endswith(".parts") for part in path.relative_to(root).parts[:-1]):
            continue
        try:
            entries.append(entry(path, root))
        except TraceError as exc:
            skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
    return entries, skipped
