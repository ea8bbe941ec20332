"""The prompt bootstrap (trace.resample_prompts), checked against the raw Parquet file.

Expected values come from pandas on the file: which rows a prompt owns, per-prompt skip counts,
and the closed-form variance of a stratified draw with replacement.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.runner import run_scenario
from cuhlm_sim.traces.arrays import ROW_COLUMNS, TraceArrays
from cuhlm_sim.traces.io import load_trace
from cuhlm_sim.traces.resample import draw_prompts, resample_prompts
from tests.conftest import REAL_TRACE

#: trace columns compared with the file, by TraceArrays field -> Parquet column
SCALAR_COLUMNS = {
    "uncertainty": "uncertainty",
    "accepted": "accepted",
    "accept_prob": "accept_prob",
    "u_accept": "u_accept",
    "p_draft": "p_draft",
    "entropy": "entropy",
    "top1_prob": "top1_prob",
    "u_count": "u_count",
    "t_draft_ms": "t_draft_ms",
    "t_target_ms": "t_target_ms",
}
LIST_COLUMNS = ("topk_accept_prob", "topk_mass", "topk_l1", "topk_tv_out")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_parquet(REAL_TRACE)


@pytest.fixture(scope="module")
def trace() -> TraceArrays:
    return load_trace(REAL_TRACE)


def _drawn_names(t: TraceArrays) -> list[str]:
    return [t.prompt_names[i] for i in t.prompt_draw]


def _assert_rows_equal_file(part: TraceArrays, rows: pd.DataFrame) -> None:
    """Every per-row column of ``part`` equals the file's rows ``rows`` (in order)."""
    assert part.num_rows == len(rows)
    for field, col in SCALAR_COLUMNS.items():
        want = rows[col].to_numpy()  # float32 in the file: compared at the file's precision
        np.testing.assert_array_equal(getattr(part, field).astype(want.dtype), want, field)
    for field in LIST_COLUMNS:
        want = np.stack(rows[field].to_numpy())
        np.testing.assert_array_equal(getattr(part, field).astype(want.dtype), want, field)
    kinds = np.asarray(part.kind_names)[part.kind]
    assert kinds.tolist() == rows["kind"].tolist()


def test_row_columns_cover_every_array_field(trace):
    """take_sequences/select index exactly the per-row fields: a new column must be listed."""
    whole = {"k_grid", "seq_start", "seq_prompt", "prompt_draw"}
    arrays = {
        f.name
        for f in dataclasses.fields(TraceArrays)
        if isinstance(getattr(trace, f.name), np.ndarray) or "ndarray" in str(f.type)
    }
    assert arrays == set(ROW_COLUMNS) | whole
    for name in ROW_COLUMNS:
        value = getattr(trace, name)
        assert value is None or value.shape[0] == trace.num_rows, name


def test_draw_is_reproducible_per_seed_and_differs_between_seeds(trace):
    def multiset(seed: int) -> list[str]:
        return sorted(_drawn_names(resample_prompts(trace, stream(seed, Stream.PROMPTS))))

    assert multiset(3) == multiset(3)
    draws = {tuple(multiset(s)) for s in range(5)}
    assert len(draws) == 5
    assert all(len(set(d)) < len(trace.prompt_names) for d in draws)  # with replacement


def test_draw_keeps_the_number_of_prompts_of_each_kind(trace, raw):
    per_kind = raw.groupby("kind")["prompt_id"].nunique()
    kind_of = raw.groupby("prompt_id")["kind"].first()
    for seed in range(4):
        drawn = _drawn_names(resample_prompts(trace, stream(seed, Stream.PROMPTS)))
        got = pd.Series([kind_of[p] for p in drawn]).value_counts()
        assert got.sort_index().to_dict() == per_kind.sort_index().to_dict()


def test_each_drawn_prompt_replays_the_files_rows(trace, raw):
    t = resample_prompts(trace, stream(7, Stream.PROMPTS))
    drawn = _drawn_names(t)
    assert len(drawn) == raw["prompt_id"].nunique()
    expected = pd.concat([raw[raw["prompt_id"] == p] for p in drawn], ignore_index=True)
    _assert_rows_equal_file(t, expected)
    # sequence layout: one sequence per drawn prompt (one per prompt in this file)
    sizes = [int((raw["prompt_id"] == p).sum()) for p in drawn]
    assert t.seq_lengths().tolist() == sizes
    assert [t.prompt_names[i] for i in t.seq_prompt] == drawn


def test_a_prompt_with_several_sequences_replays_all_of_them(tmp_path, raw):
    """Relabel the file so that each code prompt owns two sequences (its own and the next
    code prompt's): a draw of that prompt replays both, whole, in file order."""
    table = pq.read_table(REAL_TRACE)
    df = raw.copy()
    code = sorted(df.loc[df["kind"] == "code", "prompt_id"].unique())
    merged = {b: a for a, b in zip(code[0::2], code[1::2], strict=True)}
    df["prompt_id"] = df["prompt_id"].map(lambda p: merged.get(p, p))
    table = table.set_column(
        table.column_names.index("prompt_id"),
        "prompt_id",
        pa.array(df["prompt_id"].tolist()).dictionary_encode(),
    )
    path = tmp_path / "merged.parquet"
    pq.write_table(table, path)
    t0 = load_trace(path)
    assert t0.num_sequences == raw["seq_id"].nunique()
    t = resample_prompts(t0, stream(1, Stream.PROMPTS))
    drawn = _drawn_names(t)
    assert sum(df.groupby("prompt_id")["kind"].first()[drawn] == "code") == len(code) // 2
    expected = pd.concat([df[df["prompt_id"] == p] for p in drawn], ignore_index=True)
    _assert_rows_equal_file(t, expected)
    assert t.num_sequences == sum(df.loc[df["prompt_id"] == p, "seq_id"].nunique() for p in drawn)


def test_kinds_resamples_only_those_kinds(raw):
    code = load_trace(REAL_TRACE, kinds=["code"])
    for seed in range(3):
        t = resample_prompts(code, stream(seed, Stream.PROMPTS))
        drawn = _drawn_names(t)
        assert len(drawn) == raw.loc[raw["kind"] == "code", "prompt_id"].nunique()
        assert set(raw.loc[raw["prompt_id"].isin(drawn), "kind"]) == {"code"}


def test_run_skip_fraction_is_the_mean_over_the_drawn_prompts_rows(raw):
    """The run's trace_skip_fraction = pandas mean of u_count <= floor(u_th K) over the rows of
    the prompts it drew (each as often as drawn); seeds draw different sets, and with the
    bootstrap off the run replays the whole file."""
    threshold, k_draws = 0.081, 20
    limit = math.floor(threshold * k_draws + 1e-9)
    sets = []
    for seed in (0, 1):
        scn = load_scenario_from_dict(seed, True, threshold)
        out = run_scenario(scn)
        counts = out.summary["trace_prompt_counts"]
        assert sum(counts.values()) == raw["prompt_id"].nunique()
        rows = pd.concat([raw[raw["prompt_id"] == p] for p, c in counts.items() for _ in range(c)])
        assert out.summary["trace_skip_fraction"] == pytest.approx(
            float((rows["u_count"] <= limit).mean()), abs=1e-12
        )
        assert out.scenario.trace.resample_prompts is True
        sets.append(counts)
    assert sets[0] != sets[1]
    for seed in (0, 1):  # off: the whole trace, whatever the seed
        out = run_scenario(load_scenario_from_dict(seed, None, threshold))
        assert out.summary["trace_prompt_counts"] is None
        assert out.scenario.trace.resample_prompts is False
        assert out.summary["trace_skip_fraction"] == pytest.approx(
            float((raw["u_count"] <= limit).mean()), abs=1e-12
        )


def load_scenario_from_dict(seed: int, resample: bool | None, threshold: float):
    from cuhlm_sim.config.schema import Scenario

    return Scenario.model_validate(
        {
            "seed": seed,
            "duration_s": 0.5,
            "warmup_s": 0.0,
            "devices": {"count": 2, "slm_latency_s": 0.01},
            "server": {"llm_latency_s": 0.01},
            "policy": {"kind": "uhlm", "threshold": threshold},
            "trace": {"path": str(REAL_TRACE), "resample_prompts": resample},
        }
    )


def test_bootstrap_variance_matches_the_stratified_closed_form(trace, raw):
    """Over B draws, the replayed trace's skipped rows S* and rows L* have the exact variance
    of a stratified draw with replacement: Var = sum_k n_k var_k(X) (X per prompt, var_k the
    population variance among the n_k prompts of kind k), and the skip fraction S*/L* the
    delta-method variance sum_k n_k var_k(S - r L) / L^2 (r, L of the whole trace).

    Tolerance: the sample variance of B near-normal draws has relative sd sqrt(2/(B-1)) = 3.2 %
    at B = 2000; 4 sd = 13 % for the exact forms, 15 % for the delta method (its own error is
    O(1/n) = a few % at 16 prompts per kind)."""
    limit = math.floor(0.081 * 20 + 1e-9)
    per = raw.assign(skip=raw["u_count"] <= limit).groupby("prompt_id")
    p = pd.DataFrame({"S": per["skip"].sum(), "L": per.size(), "kind": per["kind"].first()})
    r = p["S"].sum() / p["L"].sum()
    p["Z"] = p["S"] - r * p["L"]
    by_kind = p.groupby("kind")
    n_k = by_kind.size()

    def closed(col: str) -> float:
        return float((n_k * by_kind[col].var(ddof=0)).sum())

    b = 2000
    s_star, l_star = np.empty(b), np.empty(b)
    for i in range(b):
        t = resample_prompts(trace, stream(10_000 + i, Stream.PROMPTS))
        s_star[i], l_star[i] = (t.u_count <= limit).sum(), t.num_rows
    assert s_star.var(ddof=1) == pytest.approx(closed("S"), rel=0.13)
    assert l_star.var(ddof=1) == pytest.approx(closed("L"), rel=0.13)
    ratio_var = closed("Z") / p["L"].sum() ** 2
    assert (s_star / l_star).var(ddof=1) == pytest.approx(ratio_var, rel=0.15)
    assert s_star.mean() == pytest.approx(p["S"].sum(), rel=0.01)


def test_draw_prompts_uses_only_prompts_present(trace):
    code = trace.select(trace.kind == trace.kind_names.index("code"))
    drawn = draw_prompts(code, np.random.default_rng(0))
    present = set(code.seq_prompt.tolist())
    assert set(drawn.tolist()) <= present
    assert drawn.size == len(present)
