"""The replay comparison on hand-made data (expected values counted by hand)."""

from __future__ import annotations

import pandas as pd
import pytest

from cuhlm_sim.accuracy.compare import closed_rates, replay_rates, section


def test_replay_rates_by_hand():
    trace = pd.DataFrame(
        {"u_count": [0, 0, 1, 5, 20], "accepted": [True, True, False, True, False]}
    )
    assert replay_rates(trace, 0) == (pytest.approx(2 / 5), pytest.approx(2 / 3))
    assert replay_rates(trace, 1) == (pytest.approx(3 / 5), pytest.approx(1 / 2))
    assert replay_rates(trace, 20) == (pytest.approx(1.0), None)


def test_closed_rates_pool_tokens():
    rows = pd.DataFrame(
        {
            "skipped_mask": [[True, False, False], [False]],
            "verified_mask": [[False, True, True], [True]],
            "accepted_mask": [[True, False, True], [True]],
        }
    )
    assert closed_rates(rows) == (pytest.approx(1 / 4), pytest.approx(1 / 3))


def test_section_renders_rates_and_claims(tmp_path):
    def row(config, policy, seed, count, cos, skipped, verified, accepted, pid):
        return {
            "config": config,
            "policy": policy,
            "seed": seed,
            "threshold": None if count is None else count / 20,
            "skip_count": count,
            "truncation_k": None,
            "skip_prob": None,
            "prompt_id": pid,
            "kind": "prose",
            "tokens": len(skipped),
            "skip_rate": sum(skipped) / len(skipped),
            "rejection_rate": 0.0,
            "cosine_to_llm": cos,
            "pass1": None,
            "shared_prefix_tokens": 0,
            "skipped_mask": skipped,
            "verified_mask": verified,
            "accepted_mask": accepted,
        }

    rows = []
    for pid in ("a", "b"):
        rows += [
            row("llm_only", "llm_only", 0, None, 1.0, [False], [False], [True], pid),
            row("llm_only", "llm_only", 1, None, 0.8, [False], [False], [True], pid),
            row("hlm", "hlm", 0, None, 0.8, [False, False], [True, True], [True, False], pid),
            row("uhlm_0.05", "uhlm", 0, 1, 0.78, [True, False], [False, True], [True, True], pid),
        ]
    table = tmp_path / "acc.parquet"
    pd.DataFrame(rows).to_parquet(table)
    trace = tmp_path / "trace.parquet"
    pd.DataFrame(
        {"u_count": [0, 1, 5, 20], "accepted": [True, True, False, True], "kind": ["prose"] * 4}
    ).to_parquet(trace)
    text = "\n".join(section(table, trace))
    # uhlm_0.05: closed loop skips 1 of 2 tokens per prompt; the trace skips u_count <= 1: 2/4,
    # and rejects 1 of its 2 sent rows.
    assert "| uhlm_0.05 (seed 0) | u_count <= 1 | 50.0 % / 50.0 % | 0.0 % / 50.0 % |" in text
    # hlm: rejects 1 of 2 verified per prompt; the trace rejects 1 of 4 rows.
    assert "| hlm (seed 0) | verify all | 0.0 % / 0.0 % | 50.0 % / 25.0 % |" in text
    assert "97.5 % (cosine 0.780 / 0.800)" in text  # U-HLM / noise floor
    assert section(tmp_path / "missing.parquet", trace) == []
