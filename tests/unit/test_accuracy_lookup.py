"""Measured accuracy in summary.json: a hand-made accuracy table, expected values by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cuhlm_sim.metrics.accuracy import load_table, lookup

K = 20


def _rows(config, policy, thr, k, seed, cosines, pass1=(None, None), skip_prob=None):
    return [
        {
            "config": config,
            "policy": policy,
            "threshold": thr,
            "truncation_k": k,
            "skip_prob": skip_prob,
            "prompt_id": pid,
            "kind": kind,
            "seed": seed,
            "tokens": 96,
            "skip_rate": 0.0,
            "rejection_rate": 0.0,
            "cosine_to_llm": c,
            "pass1": p,
        }
        for (pid, kind), c, p in zip(
            [("HumanEval_1", "code"), ("prose_1", "prose")], cosines, pass1, strict=True
        )
    ]


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    rows = (
        _rows("llm_only__s0", "llm_only", None, None, 0, (1.0, 1.0), (1.0, None))
        + _rows("llm_only__s1", "llm_only", None, None, 1, (0.9, 0.7), (1.0, None))
        + _rows("hlm__s0", "hlm", None, None, 0, (0.88, 0.72), (1.0, None))
        + _rows("uhlm_0.00__s0", "uhlm", 0.0, None, 0, (0.9, 0.8), (1.0, None))
        + _rows("uhlm_0.05__s0", "uhlm", 0.05, None, 0, (0.8, 0.7), (1.0, None))
        + _rows("uhlm_0.50__s0", "uhlm", 0.5, None, 0, (0.5, 0.3), (0.0, None))
        + _rows("cuhlm_k30__s0", "cuhlm", 0.05, 30, 0, (0.6, 0.6), (0.0, None))
        + _rows("rand__s0", "rand_hlm", None, None, 0, (0.4, 0.2), (0.0, None), 0.3)
        + _rows("slm_only__s0", "slm_only", None, None, 0, (0.2, 0.2), (0.0, None))
    )
    df = pd.DataFrame(rows)
    df["truncation_k"] = df["truncation_k"].astype("Int64")
    path = tmp_path / "acc.parquet"
    df.to_parquet(path)
    return path


def _look(table, kind, th=0.0, k=None, tv=None, sp=None):
    return lookup(table, kind, th, k, tv, sp)


def test_uhlm_is_interpolated_on_the_count_grid(table_path):
    t = load_table(table_path, None, K)
    # u_th = 0.25 -> u_count <= 5, between the measured counts 1 (0.75) and 10 (0.40).
    got = _look(t, "uhlm", 0.25)
    assert got["accuracy_cosine"] == pytest.approx(0.75 + (5 - 1) / (10 - 1) * (0.40 - 0.75))
    assert got["accuracy_pass1"] == pytest.approx(1.0 + (5 - 1) / (10 - 1) * (0.0 - 1.0))
    assert "interpolated" in got["accuracy_note"]
    exact = _look(t, "uhlm", 0.05)
    assert exact["accuracy_cosine"] == pytest.approx(0.75)
    assert exact["accuracy_note"].startswith("measured")
    # 0.073 lies on count 1 as well (floor(1.46)), like the simulator's skip rule.
    assert _look(t, "uhlm", 0.073)["accuracy_cosine"] == pytest.approx(0.75)


def test_outside_the_measured_range_is_null_with_a_reason(table_path):
    t = load_table(table_path, None, K)
    t_no_slm = load_table(table_path, None, K)
    t_no_slm = type(t_no_slm)(
        t_no_slm.path,
        t_no_slm.sha256,
        K,
        tuple(p for p in t_no_slm.points if p.policy != "slm_only"),
    )
    got = _look(t_no_slm, "uhlm", 0.6)
    assert got["accuracy_cosine"] is None and got["accuracy_pass1"] is None
    assert "outside the measured range" in got["accuracy_note"]
    # With SLM-only measured, u_th = 1 (skip all) is SLM-only, and 0.75 lies between 10 and 20.
    assert _look(t, "uhlm", 1.0)["accuracy_cosine"] == pytest.approx(0.2)
    assert _look(t, "uhlm", 0.75)["accuracy_cosine"] == pytest.approx(0.4 + 5 / 10 * (0.2 - 0.4))
    assert _look(t, "ihlm", 0.1)["accuracy_cosine"] is None
    assert "not measured" in _look(t, "ihlm", 0.1)["accuracy_note"]
    assert _look(t, "cuhlm", 0.05, k=64)["accuracy_cosine"] is None
    assert _look(t, "cuhlm", 0.05, k=30, tv=0.05)["accuracy_cosine"] is None
    assert _look(t, "random_skip", sp=0.5)["accuracy_cosine"] is None


def test_other_schemes_at_their_measured_settings(table_path):
    t = load_table(table_path, None, K)
    assert _look(t, "llm_only")["accuracy_cosine"] == pytest.approx(0.8)  # seed 1: noise floor
    assert _look(t, "hlm")["accuracy_cosine"] == pytest.approx(0.80)
    assert _look(t, "cuhlm", 0.05, k=30)["accuracy_cosine"] == pytest.approx(0.6)
    assert _look(t, "random_skip", sp=0.305)["accuracy_cosine"] == pytest.approx(0.3)


def test_kinds_filter_the_prompts(table_path):
    t = load_table(table_path, ["code"], K)
    assert _look(t, "uhlm", 0.5)["accuracy_cosine"] == pytest.approx(0.5)
    t = load_table(table_path, ["prose"], K)
    assert _look(t, "uhlm", 0.5)["accuracy_pass1"] is None


def test_run_summary_carries_the_table(tmp_path, table_path, tiny_trace):
    from cuhlm_sim.config.schema import Scenario
    from cuhlm_sim.runner import run_scenario

    (tmp_path / "traces").mkdir()
    (tmp_path / "accuracy").mkdir()
    trace = tmp_path / "traces" / "pair.parquet"
    shutil.copyfile(tiny_trace, trace)
    shutil.copyfile(table_path, tmp_path / "accuracy" / "pair.parquet")
    scn = Scenario.model_validate(
        {
            "duration_s": 2.0,
            "policy": {"kind": "uhlm", "threshold": 0.25},
            "trace": {"path": str(trace)},
        }
    )
    s = run_scenario(scn).summary
    assert s["accuracy_cosine"] == pytest.approx(0.75 + 4 / 9 * (0.40 - 0.75))
    scn = Scenario.model_validate({"duration_s": 2.0, "trace": {"path": None}})
    s = run_scenario(scn).summary
    assert s["accuracy_cosine"] is None and "synthetic" in s["accuracy_note"]
