"""Batched generation: a batch gives every prompt the rows it gets alone.

The statement tested (``cuhlm_sim.traces.metadata.BATCH_RTOL``): in float32, token columns
identical and float columns within rtol 1e-4 / atol 1e-6 (< 1e-5 here; < 6e-6 measured on the
real Qwen pair). The tiny models are exact in bf16 as well, with eager attention (with sdpa
they are not: the check fails), but real models in bf16 are not: their rows are another
realisation, as the metadata says (tested below).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.traces.conftest import write_prompts

pytestmark = pytest.mark.traces

MAX_NEW = 24
TOKEN_COLUMNS = ("draft_token", "draft_rank", "target_top1", "u_count", "accepted", "out_token")


def _run(pair: Any, prompts: Path, out: Path, batch_size: int, **kw: Any) -> Any:
    from cuhlm_sim.traces.generate import GenerateOptions, generate

    opts = GenerateOptions(
        prompts_file=str(prompts),
        prompts_per_kind=None,
        max_new_tokens=MAX_NEW,
        k_grid=(1, 2, 4, 8, 16, 32, 64),
        threads=1,
        batch_size=batch_size,
        **kw,
    )
    generate(opts, out, pair=pair, progress=False)
    return pq.read_table(out).drop(["t_draft_ms", "t_target_ms"]).to_pandas()


@pytest.fixture(scope="module")
def pairs(tiny_pair_dirs: tuple[Path, Path, Path]) -> dict[str, Any]:
    from cuhlm_sim.traces.models import load_local_pair

    d, t, _ = tiny_pair_dirs
    return {dt: load_local_pair(d, t, dtype=dt, attn="eager") for dt in ("float32", "bfloat16")}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_batched_equals_unbatched(pairs: dict[str, Any], tmp_path: Path, dtype: str) -> None:
    from cuhlm_sim.traces.generate import BATCH_ATOL, BATCH_RTOL, read_metadata

    prompts = write_prompts(tmp_path / "p.jsonl", n=8, seed=3)
    one = _run(pairs[dtype], prompts, tmp_path / "b1.parquet", 1)
    many = _run(pairs[dtype], prompts, tmp_path / "b3.parquet", 3)
    lengths = one.groupby("prompt_id").size()
    # the case covers left padding (prompt lengths differ) and sequences leaving the batch
    assert lengths.min() < MAX_NEW and lengths.max() == MAX_NEW
    assert list(many["prompt_id"]) == list(one["prompt_id"]) and list(many["pos"]) == list(
        one["pos"]
    )
    for c in TOKEN_COLUMNS:
        assert (many[c].to_numpy() == one[c].to_numpy()).all(), c
    assert many["resampled_token"].equals(one["resampled_token"])
    for c in one.columns:
        if one[c].dtype == np.float32:
            np.testing.assert_allclose(many[c], one[c], rtol=BATCH_RTOL, atol=BATCH_ATOL, err_msg=c)
    for c in ("topk_mass", "topk_l1", "topk_accept_prob", "topk_tv_out"):
        a, b = np.stack(many[c].to_numpy()), np.stack(one[c].to_numpy())
        np.testing.assert_allclose(a, b, rtol=BATCH_RTOL, atol=BATCH_ATOL, err_msg=c)
    note = read_metadata(tmp_path / "b3.parquet")["batching"]
    if dtype == "float32":
        assert "token columns equal an unbatched run's" in note
    else:
        assert "other realisations" in note and "float32" in note
    assert read_metadata(tmp_path / "b1.parquet")["batching"].startswith("unbatched")


def test_stats_of_a_batch_are_the_rows_stats() -> None:
    """PositionStats.batch (vectorised, in row chunks) equals each row through __call__."""
    import torch

    from cuhlm_sim.traces.token_stats import PositionStats

    torch.set_num_threads(1)
    rng = np.random.default_rng(5)
    V, B = 300, 6
    grid = (1, 2, 4, 30, 256, 512)
    zd = torch.tensor(rng.normal(0, 3, (B, V)), dtype=torch.float32)
    zt = torch.tensor(rng.normal(0, 3, (B, V)), dtype=torch.float32)
    unif = rng.random((B, 43))
    st = PositionStats(V, 20, 2.0, grid, 32, temperature_draft=0.8)
    whole = st.batch(zd, zt, unif)
    st.chunk = 4  # two chunks, the second one short
    chunked = st.batch(zd, zt, unif)
    for i in range(B):
        row = st(zd[i], zt[i], unif[i])
        for k, v in row.items():
            for got in (whole[k][i], chunked[k][i]):
                if k == "resampled_token" and v is None:
                    assert got == -1
                elif isinstance(v, np.ndarray):
                    np.testing.assert_array_equal(got.astype(np.float32), v, err_msg=k)
                else:
                    assert got == v, k


def _old_uncertainty_count(z: Any, d: int, theta_unif: Any, draw_unif: Any, th: float) -> int:
    """The single-row formula as the accuracy run used it before the batched version."""
    import torch

    from cuhlm_sim.traces.token_stats import draw_inverse_cdf

    theta = th * (1.0 - theta_unif)
    inv = (1.0 / theta).to(torch.float32).unsqueeze(1)
    cdf = torch.cumsum(torch.softmax(z.unsqueeze(0) * inv, -1), -1)
    return int((draw_inverse_cdf(cdf, draw_unif.to(torch.float32)) != d).sum())


def test_uncertainty_count_is_unchanged_for_the_accuracy_run() -> None:
    import torch

    from cuhlm_sim.traces.token_stats import uncertainty_count

    rng = np.random.default_rng(9)
    for _ in range(100):
        z = torch.tensor(rng.normal(0, 2, 200), dtype=torch.float32)
        a, b = torch.tensor(rng.random(20)), torch.tensor(rng.random(20))
        d = int(rng.integers(200))
        assert uncertainty_count(z, d, a, b, 2.0) == _old_uncertainty_count(z, d, a, b, 2.0)
