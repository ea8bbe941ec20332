"""Measured output quality next to throughput: the closed-loop accuracy table, looked up per run.

``cuhlm accuracy`` decodes real text with the model pair of a trace, the policy acting in the
loop, and scores every output against the LLM-only output of the same prompt
(``accuracy/<trace name>.parquet``, one row per configuration × prompt × seed). A simulation run
replays the same pair's trace, so its summary can carry the accuracy measured for its policy:

- ``accuracy_cosine``: mean cosine similarity of sentence embeddings with the LLM-only output
  (all measured prompts of the replayed kinds);
- ``accuracy_pass1``: HumanEval pass@1 of the code prompts (when code is replayed);
- ``accuracy_note``: where the numbers come from, or in one line why they are null.

U-HLM is measured at a few grid thresholds and interpolated linearly in between (in u_count,
the grid the skip decision uses); other schemes only at their measured settings. Outside the
measured range, or for a scheme that was not measured, the values are null with a reason:
accuracy is never extrapolated.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cuhlm_sim.traces.grid import threshold_count

#: Keys this module adds to summary.json.
ACCURACY_KEYS = ("accuracy_cosine", "accuracy_pass1", "accuracy_note")
#: Simulator policy kind -> policy name in the accuracy table.
TABLE_POLICY = {
    "hlm": "hlm",
    "uhlm": "uhlm",
    "cuhlm": "cuhlm",
    "slm_only": "slm_only",
    "llm_only": "llm_only",
    "random_skip": "rand_hlm",
}
#: A Rand-HLM run matches a measured one when the skip probabilities differ by at most this.
SKIP_PROB_TOL = 0.01


@dataclass(frozen=True)
class Point:
    """One measured configuration, averaged over its prompts."""

    config: str
    policy: str
    seed: int
    skip_count: int | None  # u_count at or below which the config skipped (uhlm, cuhlm)
    truncation_k: int | None
    skip_prob: float | None
    cosine: float
    pass1: float | None
    prompts: int


@dataclass(frozen=True)
class AccuracyTable:
    path: Path
    sha256: str
    draws: int  # K of the configurations' thresholds
    points: tuple[Point, ...]


def table_for_trace(trace_file: str | Path) -> Path | None:
    """The accuracy table of a trace file, by the project layout: ``accuracy/<name>`` beside
    the ``traces/`` folder (or inside the trace's own folder)."""
    trace_file = Path(trace_file)
    for folder in (trace_file.parent.parent / "accuracy", trace_file.parent / "accuracy"):
        candidate = folder / trace_file.name
        if candidate.is_file():
            return candidate
    return None


def _none_if_nan(x: Any) -> float | None:
    import pandas as pd

    return None if pd.isna(x) else float(x)


def load_table(path: Path, kinds: list[str] | None = None, draws: int = 20) -> AccuracyTable:
    """Per-configuration means of an accuracy table, restricted to the replayed prompt kinds
    (cached per file version: a sweep looks the same table up for every run)."""
    path = Path(path)
    return _load_table(path, path.stat().st_mtime_ns, tuple(kinds or ()), draws)


@functools.lru_cache(maxsize=8)
def _load_table(path: Path, _mtime: int, kinds: tuple[str, ...], draws: int) -> AccuracyTable:
    import pandas as pd

    df = pd.read_parquet(path)
    if kinds:
        df = df[df["kind"].isin(kinds)]
    points = []
    for (config, seed), g in df.groupby(["config", "seed"], sort=True):
        thr = _none_if_nan(g["threshold"].iloc[0])
        k = _none_if_nan(g["truncation_k"].iloc[0])
        sp = _none_if_nan(g["skip_prob"].iloc[0]) if "skip_prob" in g else None
        p1 = g["pass1"].dropna()
        points.append(
            Point(
                config=str(config),
                policy=str(g["policy"].iloc[0]),
                seed=int(seed),
                skip_count=None if thr is None else round(thr * draws),
                truncation_k=None if k is None else int(k),
                skip_prob=sp,
                cosine=float(g["cosine_to_llm"].mean()),
                pass1=float(p1.mean()) if len(p1) else None,
                prompts=int(g["prompt_id"].nunique()),
            )
        )
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return AccuracyTable(Path(path), digest, draws, tuple(points))


def _result(cos: float | None, p1: float | None, note: str) -> dict[str, Any]:
    return {"accuracy_cosine": cos, "accuracy_pass1": p1, "accuracy_note": note}


def lookup(
    table: AccuracyTable,
    kind: str,
    threshold: float,
    truncation_k: int | None,
    tv_budget: float | None,
    skip_probability: float | None,
) -> dict[str, Any]:
    """The accuracy keys for a run of policy ``kind`` at these settings (see module doc)."""
    name = table.path.name
    policy = TABLE_POLICY.get(kind)
    if policy is None:
        return _result(None, None, f"{kind} was not measured in {name}")
    pts = [p for p in table.points if p.policy == policy]
    if policy == "llm_only":
        # The reference itself scores 1 by construction; a second LLM sample (another seed)
        # is what "as good as the LLM" measures: the noise floor.
        pts = [p for p in pts if p.seed != 0]
    if not pts:
        return _result(None, None, f"{kind} was not measured in {name}")
    if policy == "cuhlm":
        if tv_budget is not None:
            return _result(
                None, None, f"cuhlm with online k (tv_budget) was not measured in {name}"
            )
        count = threshold_count(threshold, table.draws)
        hit = [p for p in pts if p.truncation_k == truncation_k and p.skip_count == count]
        if not hit:
            have = ", ".join(f"k={p.truncation_k} u_th={p.skip_count}/{table.draws}" for p in pts)
            return _result(None, None, f"cuhlm measured only at {have} in {name}")
        return _mean(hit, f"measured ({hit[0].config}) in {name}")
    if policy == "rand_hlm":
        hit = [
            p
            for p in pts
            if p.skip_prob is not None
            and skip_probability is not None
            and abs(p.skip_prob - skip_probability) <= SKIP_PROB_TOL
        ]
        if not hit:
            have = ", ".join(f"{p.skip_prob:.3f}" for p in pts if p.skip_prob is not None)
            return _result(
                None, None, f"random_skip measured only at skip probability {have} in {name}"
            )
        return _mean(hit, f"measured ({hit[0].config}) in {name}")
    if policy != "uhlm":
        return _mean(pts, f"measured ({pts[0].config}) in {name}")
    count = threshold_count(threshold, table.draws)
    # u_th = 1 skips every token (u_count <= K always): exactly SLM-only, measured as such.
    pts = pts + [replace(p, skip_count=table.draws) for p in table.points if p.policy == "slm_only"]
    counts = sorted({p.skip_count for p in pts if p.skip_count is not None})
    if not counts or not counts[0] <= count <= counts[-1]:
        lo, hi = (counts[0], counts[-1]) if counts else (None, None)
        return _result(
            None,
            None,
            f"u_th = {threshold:g} (u_count <= {count}) is outside the measured range "
            f"[{lo}/{table.draws}, {hi}/{table.draws}] of {name}: not extrapolated",
        )
    per = {c: [p for p in pts if p.skip_count == c] for c in counts}
    cos_at = np.array([np.mean([p.cosine for p in per[c]]) for c in counts])
    cos = float(np.interp(count, counts, cos_at))
    p1_vals = [[p.pass1 for p in per[c] if p.pass1 is not None] for c in counts]
    p1 = float(np.interp(count, counts, [np.mean(v) for v in p1_vals])) if all(p1_vals) else None
    how = "measured" if count in counts else f"interpolated between u_count {counts}"
    return _result(cos, p1, f"{how} (u_count <= {count} of {table.draws}) in {name}")


def _mean(points: list[Point], note: str) -> dict[str, Any]:
    p1 = [p.pass1 for p in points if p.pass1 is not None]
    return _result(
        float(np.mean([p.cosine for p in points])), float(np.mean(p1)) if p1 else None, note
    )


def run_accuracy(scenario, trace) -> dict[str, Any]:
    """The accuracy keys of one run (null with a reason when no table applies)."""
    files = [Path(f) for f, _ in trace.files]
    if len(files) != 1:
        why = "a synthetic trace" if not files else "a folder of trace files"
        return _result(None, None, f"no measured accuracy for {why}")
    path = table_for_trace(files[0])
    if path is None:
        return _result(None, None, f"no accuracy table for {files[0].name} (cuhlm accuracy)")
    table = load_table(path, scenario.trace.kinds, trace.u_draws or 20)
    pol = scenario.policy
    skip_p = None
    if pol.kind == "random_skip":
        skip_p = (
            float(pol.skip_probability)
            if pol.skip_probability is not None
            else trace.skip_fraction(pol.threshold)
        )
    return lookup(
        table,
        pol.kind,
        pol.threshold,
        getattr(pol, "truncation_k", None),
        getattr(pol, "tv_budget", None),
        skip_p,
    )
