"""The replay approximation, measured: closed-loop rates against the trace's replayed rates,
and our measured accuracy against the papers' accuracy claims.

The simulator replays each trace row as an independent decision point: a skipped draft that
the LLM would have rejected does not change the text after it. The closed loop (``cuhlm
accuracy``) lets it change. At each measured threshold this module sets the closed loop's
skip and rejection rates (pooled over tokens) beside the rates the trace predicts for the
same rule (u_count <= c), so the gap the replay leaves is a number, not an assumption.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cuhlm_sim.accuracy.report import summarize

#: The papers' accuracy claims: (paper, claim, value, our ratio: numerator, denominator).
CLAIMS = (
    ("U-HLM", "U-HLM accuracy / LLM accuracy (cosine)", "up to 97.54 %", "uhlm_0.05", "llm_only"),
    ("U-HLM", "U-HLM accuracy / HLM accuracy (cosine)", "≈ 100.05 %", "uhlm_0.05", "hlm"),
    ("CU-HLM", "CU-HLM accuracy (reference unclear)", "97.4 %", "cuhlm_k30_0.05", "llm_only"),
    ("CU-HLM", "SLM-only accuracy / LLM accuracy", "≈ 89 %", "slm_only", "llm_only"),
    ("2508.12590", "U-HLM BERTScore (not cosine)", "85.8 %", "uhlm_0.05", None),
    ("2508.12590", "HLM-class best accuracy, BERTScore", "87.5 %", "hlm", None),
)


def replay_rates(trace: pd.DataFrame, count: int) -> tuple[float, float | None]:
    """(skip rate, rejection rate of the transmitted rows) the trace predicts for
    "skip iff u_count <= count"."""
    skipped = trace["u_count"].to_numpy() <= count
    sent = ~skipped
    rej = float((~trace["accepted"].to_numpy()[sent]).mean()) if sent.any() else None
    return float(skipped.mean()), rej


def closed_rates(rows: pd.DataFrame) -> tuple[float, float | None]:
    """(skip rate, rejection rate), pooled over the tokens of a configuration's rows."""
    skipped = np.concatenate([np.asarray(m, dtype=bool) for m in rows["skipped_mask"]])
    verified = np.concatenate([np.asarray(m, dtype=bool) for m in rows["verified_mask"]])
    accepted = np.concatenate([np.asarray(m, dtype=bool) for m in rows["accepted_mask"]])
    rej = float((~accepted[verified]).mean()) if verified.any() else None
    return float(skipped.mean()), rej


def _pct(x: float | None) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def section(table_path: Path, trace_path: Path) -> list[str]:
    """Markdown lines of the validation section (empty when there is no table)."""
    if not Path(table_path).is_file():
        return []
    df = pd.read_parquet(table_path)
    trace = pd.read_parquet(trace_path, columns=["u_count", "accepted", "kind"])
    trace = trace[trace["kind"].astype(str).isin(set(df["kind"]))]
    means = summarize(df)
    lines = [
        "## Measured accuracy and the replay approximation",
        "",
        f"From `accuracy/{Path(table_path).name}` (`cuhlm accuracy`: real closed-loop decoding "
        "with the traced pair on held-out prompts, the policy acting in the loop; "
        "`accuracy/README.md` says how it was made). Rates pooled over tokens; accuracy = "
        "mean cosine similarity of sentence embeddings with the LLM-only output of the same "
        "prompt, 95 % intervals clustered by prompt.",
        "",
        "| configuration | rule | skip rate: closed loop / replayed | rejection rate: closed "
        "loop / replayed | accuracy (cosine) [95 % CI] | pass@1 (HumanEval) |",
        "|---|---|---|---|---|---|",
    ]
    for _, m in means.iterrows():
        rows = df[(df["config"] == m["config"]) & (df["seed"] == m["seed"])]
        pol = m["policy"]
        count = rows["skip_count"].iloc[0] if "skip_count" in rows else None
        if pol in ("uhlm", "cuhlm") and count is not None and not pd.isna(count):
            rule = f"u_count <= {int(count)}" + (
                f", top-{int(m['truncation_k'])}" if pol == "cuhlm" else ""
            )
            rs, rr = replay_rates(trace, int(count))
        elif pol == "hlm":
            rule, (rs, rr) = "verify all", replay_rates(trace, -1)
        else:
            rule, rs, rr = pol, None, None
        cs, cr = closed_rates(rows) if pol != "llm_only" else (None, None)
        acc = (
            "1 (the reference)"
            if pol == "llm_only" and m["seed"] == 0
            else f"{m['cosine_to_llm']:.3f} [{m['cosine_to_llm_lo']:.3f}, "
            f"{m['cosine_to_llm_hi']:.3f}]"
        )
        p1 = "—" if pd.isna(m["pass1"]) else f"{m['pass1']:.2f}"
        lines.append(
            f"| {m['config']} (seed {m['seed']}) | {rule} | {_pct(cs)} / {_pct(rs)} "
            f"| {_pct(cr)} / {_pct(rr)} | {acc} | {p1} |"
        )
    lines += [
        "",
        "Replayed = what the trace predicts for the same rule (the simulator's skip and "
        "rejection rates converge to these). In CU-HLM the closed loop verifies against the "
        "top-k draft, the replay against the trace's top-k acceptance: both are rejection "
        "rates of the truncated test.",
        "",
        "| paper | claim | paper value | ours |",
        "|---|---|---|---|",
    ]
    cos = {(r["config"], r["seed"]): r["cosine_to_llm"] for _, r in means.iterrows()}
    floor = cos.get(("llm_only", 1))
    for paper, claim, value, num, den in CLAIMS:
        a = cos.get((num, 0))
        if a is None:
            ours = "not measured"
        elif den is None:
            ours = f"cosine {a:.3f} (BERTScore is not available offline; not comparable)"
        else:
            b = floor if den == "llm_only" else cos.get((den, 0))
            ours = "—" if not b else f"{100 * a / b:.1f} % (cosine {a:.3f} / {b:.3f})"
        lines.append(f"| {paper} | {claim} | {value} | {ours} |")
    lines += [
        "",
        "The LLM's own accuracy is a second LLM sample of the same prompt (seed 1), the noise "
        "floor: two LLM outputs are not identical either, so ratios are taken against it. The "
        "papers' prompts (Alpaca, QED, CREAK, StrategyQA), models (TinyLlama → Llama-2-7B) and "
        "embedding model differ from ours: compare trends, not digits.",
        "",
    ]
    return lines
