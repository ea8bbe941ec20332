"""``--importance``: the target's attention importance of each draft position, and its replay.

The column is re-derived by hand from cache-free forward passes (the draft token fed at its
position, eager attention), the formula on a hand-made attention tensor, and the IU-HLM policy
is shown to transmit exactly the rows the trace's column and its rule say.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.traces.conftest import write_prompts

pytestmark = pytest.mark.traces

SINKS = 4


@pytest.fixture(scope="module")
def eager_pair(tiny_pair_dirs: tuple[Path, Path, Path]) -> Any:
    from cuhlm_sim.traces.models import load_local_pair

    return load_local_pair(tiny_pair_dirs[0], tiny_pair_dirs[1], attn="eager")


@pytest.fixture(scope="module")
def imp_trace(eager_pair: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from cuhlm_sim.traces.generate import GenerateOptions, generate

    root = tmp_path_factory.mktemp("imp")
    opts = GenerateOptions(
        prompts_file=str(write_prompts(root / "p.jsonl", n=9, seed=4)),
        prompts_per_kind=None,
        max_new_tokens=20,
        k_grid=(1, 2, 4, 8, 16, 32, 64),
        threads=1,
        batch_size=3,
        importance=True,
        importance_sinks=SINKS,
    )
    out = root / "imp.parquet"
    generate(opts, out, pair=eager_pair, progress=False)
    return out, opts


def _by_hand(model: Any, ids: list[int], n_prompt: int) -> float:
    """I_t for the last position of ``ids`` from one cache-free pass, in numpy."""
    import torch

    with torch.inference_mode():
        out = model.model(input_ids=torch.tensor([ids]), output_attentions=True)
    a = np.mean([w[0, :, -1, :].double().numpy() for w in out.attentions], axis=(0, 1))  # [L]
    keep = np.ones(len(ids), bool)
    keep[: min(SINKS, n_prompt)] = False
    keep[-1] = True
    mu, sigma = a[keep].mean(), a[keep].std()
    if sigma == 0:
        return 1.0
    return 0.5 * (1 + math.erf((a[-1] - mu) / sigma / math.sqrt(2)))


def test_importance_column_matches_a_hand_computation(imp_trace: tuple[Path, Any], eager_pair: Any):
    from cuhlm_sim.traces.generate import select_prompts

    path, opts = imp_trace
    table = pq.read_table(path)
    assert table.schema.field("importance").type == pa.float32()
    df = table.to_pandas()
    imp = df["importance"].to_numpy()
    assert np.isfinite(imp).all() and (imp >= 0).all() and (imp <= 1).all()
    assert imp.std() > 0.05  # a score, not a constant
    assert (~df["accepted"]).any() and df["accepted"].any()  # both paths of the loop
    tok = eager_pair.tokenizer
    checked = 0
    for p in select_prompts(opts, tok):
        ids = tok(p.text, add_special_tokens=False)["input_ids"]
        rows = df[df["prompt_id"] == p.prompt_id].sort_values("pos")
        out = rows["out_token"].tolist()
        for t, row in enumerate(rows.itertuples()):
            ctx = ids + out[:t] + [int(row.draft_token)]
            want = _by_hand(eager_pair.target, ctx, len(ids))
            assert row.importance == pytest.approx(want, abs=2e-5), (p.prompt_id, t)
            checked += 1
    assert checked == len(df)


def test_importance_formula_on_a_hand_made_attention() -> None:
    """Two rows, one left-padded: padding and sinks leave the statistics; z-score → Φ."""
    import torch

    from cuhlm_sim.traces.importance import importance_from_attention

    # w[b][h]: one layer, two heads, the query is the last column; row 1 has 2 pad columns
    w = [
        [[0.5, 0.2, 0.1, 0.1, 0.05, 0.05], [0.3, 0.3, 0.1, 0.1, 0.1, 0.1]],
        [[0.0, 0.0, 0.6, 0.2, 0.15, 0.05], [0.0, 0.0, 0.3, 0.3, 0.1, 0.3]],
    ]
    attn = (torch.tensor(w).unsqueeze(2),)  # [B=2, H=2, 1, L=6]
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
    got = importance_from_attention(attn, mask, torch.tensor([0, 2]), sinks=2).tolist()
    a = np.asarray(w).mean(axis=1)  # [B, L], mean over heads
    # row 0: sinks = columns 0, 1; row 1: pads 0, 1 and sinks 2, 3 leave only 4 and 5
    for row, keep in ((0, [2, 3, 4, 5]), (1, [4, 5])):
        v = a[row, keep]
        want = 0.5 * (1 + math.erf((a[row, -1] - v.mean()) / v.std() / math.sqrt(2)))
        assert got[row] == pytest.approx(want, rel=1e-6)
    assert got[1] == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))), rel=1e-6)  # z = 1
    # a prompt shorter than `sinks`: only its own tokens are sinks
    short = importance_from_attention(attn, mask, torch.tensor([0, 2]), sinks=5, prompt_end=4)
    v = a[1, [4, 5]]
    assert short[1].item() == pytest.approx(got[1], rel=1e-6) and np.std(v) > 0
    flat = (torch.full((1, 1, 1, 5), 0.2),)
    assert importance_from_attention(flat, torch.ones(1, 5), torch.tensor([0]), 1).item() == 1.0


def test_ihlm_replays_the_importance_column(imp_trace: tuple[Path, Any]) -> None:
    """Every replayed token is sent iff u_count > round-down(u_th·K) and I >= I_th (the
    column, by hand); the synthetic Beta(2, 5) draw sends other tokens, and the summary and
    manifest say which source was used."""
    from cuhlm_sim.config.schema import Scenario
    from cuhlm_sim.outputs.manifest import build_manifest
    from cuhlm_sim.runner import run_scenario

    path, _ = imp_trace
    df = pq.read_table(path).to_pandas()
    th, ith = 0.3, 0.5
    hand = (df["u_count"].to_numpy() > math.floor(th * 20 + 1e-9)) & (
        df["importance"].to_numpy() >= ith
    )
    assert 0 < hand.sum() < len(df)
    sent: dict[str, np.ndarray] = {}
    for source in ("trace", "synthetic"):
        scn = Scenario.model_validate(
            {
                "duration_s": 30.0,
                "warmup_s": 0.0,
                "devices": {"count": 4},
                "trace": {"path": str(path)},
                "policy": {
                    "kind": "ihlm",
                    "threshold": th,
                    "importance_threshold": ith,
                    "importance_source": source,
                },
            }
        )
        out = run_scenario(scn, log_tokens=True)
        log = out.result.recorder.token_log()
        rows, was_sent = log["trace_row"], log["sent"]
        assert len(rows) > len(df)  # every row replayed, most of them several times
        sent[source] = was_sent
        if source == "trace":
            np.testing.assert_array_equal(was_sent, hand[rows])
        else:
            assert (was_sent != hand[rows]).any()
        assert out.summary["importance_source"] == source
        manifest = build_manifest(scn.model_dump(mode="json"), 0, out.trace.files, {})
        assert manifest["importance"]["synthetic"] is (source == "synthetic")
    assert sent["trace"].mean() != pytest.approx(sent["synthetic"].mean(), abs=1e-9)


def test_runs_without_importance_say_so() -> None:
    from cuhlm_sim.config.schema import Scenario
    from cuhlm_sim.runner import run_scenario

    scn = Scenario.model_validate({"duration_s": 3.0, "trace": {"path": None}})
    assert run_scenario(scn).summary["importance_source"] is None
