"""Any pair: SPECs, the vocabulary check, GGUF files, device, dtype and temperature.

Tiny random Qwen2 models built by the fixtures (no hub, no weights): the WordLevel pair of the
generator tests, and a byte-level BPE pair saved both as transformers folders and as GGUF files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cuhlm_sim.errors import TraceError
from tests.traces.conftest import write_prompts

pytestmark = pytest.mark.traces

GRID = "1,2,4,8,16,32,64"


def _cli(*args: str) -> Any:
    from cuhlm_sim.cli import app

    return CliRunner().invoke(app, ["traces", *args])


def _generate(*args: str, out: Path) -> Any:
    return _cli("generate", *args, "--out", str(out), "--threads", "1", "--no-progress")


def _one_line_error(result: Any, *fragments: str) -> str:
    """Exit 2, no traceback, one ``error:`` line on stderr holding every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in {err!r}"
    return err


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _meta(path: Path) -> dict[str, Any]:
    from cuhlm_sim.traces.generate import read_metadata

    return read_metadata(path)


def test_trace_from_local_folders(tiny_pair_dirs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The CLI path end to end: folders in, names, hashes, sizes, device, dtype and measured
    seconds per token into the metadata."""
    from safetensors.numpy import load_file

    draft, target, _ = tiny_pair_dirs
    prompts = write_prompts(tmp_path / "p.jsonl")
    out = tmp_path / "t.parquet"
    r = _generate(
        "--draft", str(draft), "--target", str(target), "--prompts", str(prompts),
        "--dtype", "float32", "--device", "cpu", "--max-new-tokens", "8", "--batch-size", "2",
        out=out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    meta = _meta(out)
    for role, folder in (("draft", draft), ("target", target)):
        info = meta[f"{role}_model"]
        weights = folder / "model.safetensors"
        assert info["name"] == folder.name and info["source"] == "folder"
        assert info["sha256"] == _sha(weights) and info["bytes"] == weights.stat().st_size
        assert info["params"] == sum(a.size for a in load_file(weights).values())
        assert info["dtype"] == "float32"
    assert meta["device"] == "cpu" and meta["dtype"] == "float32"
    assert meta["attn_implementation"] == "eager" and meta["batch_size"] == 2
    assert meta["seconds_per_token"] > 0 and meta["timing"]["tokens"] == meta["n_tokens"]
    assert meta["temperature_draft"] == meta["temperature_target"] == 1.0
    assert meta["prompt_source"]["file"]["sha256"] == _sha(prompts)
    assert meta["models_preset"] is None and meta["draft_spec"] == str(draft)
    ids = pq.read_table(out).column("prompt_id").to_pylist()
    assert sorted(set(ids)) == [f"p{i}" for i in range(6)]


def test_gguf_files_give_the_folder_trace(bpe_pair: dict[str, Path], tmp_path: Path) -> None:
    """The same weights as GGUF files and as folders give the same trace, row for row."""
    prompts = tmp_path / "p.jsonl"
    from tests.traces.conftest import BPE_TEXT

    prompts.write_text(
        "".join(
            json.dumps({"id": f"b{i}", "kind": "prose", "text": t}) + "\n"
            for i, t in enumerate(BPE_TEXT)
        )
    )
    tables = {}
    for fmt in ("dir", "gguf"):
        out = tmp_path / f"{fmt}.parquet"
        r = _generate(
            "--draft", str(bpe_pair[f"draft_{fmt}"]), "--target", str(bpe_pair[f"target_{fmt}"]),
            "--prompts", str(prompts), "--dtype", "float32", "--max-new-tokens", "10",
            "--batch-size", "2", out=out,
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        tables[fmt] = pq.read_table(out).drop(["t_draft_ms", "t_target_ms"])
    assert tables["gguf"].to_pylist() == tables["dir"].to_pylist()
    meta = _meta(tmp_path / "gguf.parquet")
    info = meta["target_model"]
    assert info["source"] == "gguf" and info["name"] == "tiny-target"
    assert info["sha256"] == _sha(bpe_pair["target_gguf"]) and info["quant"] == "ALL_F32"
    assert meta["draft_model"]["file"] == "tiny-draft.gguf"


def test_tokenizer_mismatch_is_refused_before_any_weights(
    tiny_pair_dirs: tuple[Path, Path, Path],
    bpe_pair: dict[str, Path],
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    import cuhlm_sim.traces.models as models

    def no_weights(*a: Any, **k: Any) -> None:
        raise AssertionError("weights loaded before the vocabularies were compared")

    monkeypatch.setattr(models, "_load_model", no_weights)
    r = _generate(
        "--draft", str(tiny_pair_dirs[0]), "--target", str(bpe_pair["target_dir"]),
        "--prompts", str(write_prompts(tmp_path / "p.jsonl")), out=tmp_path / "t.parquet",
    )  # fmt: skip
    _one_line_error(r, "tokenizers differ", "draft 59 entries, target 300", "only in the draft")


def test_vocab_difference_names_what_differs() -> None:
    from cuhlm_sim.traces.models import vocab_difference

    class Tok:
        def __init__(self, vocab: dict[str, int]) -> None:
            self.vocab = vocab

        def get_vocab(self) -> dict[str, int]:
            return dict(self.vocab)

    a = Tok({"a": 0, "b": 1, "c": 2})
    assert vocab_difference(a, Tok({"a": 0, "b": 1, "c": 2})) is None
    swapped = vocab_difference(a, Tok({"a": 0, "b": 2, "c": 1}))
    assert swapped == "draft 3 entries, target 3; 2 tokens have other ids, e.g. 'b' is 1 vs 2"
    more = vocab_difference(a, Tok({"a": 0, "b": 1, "c": 2, "d\n": 3}))
    assert more == "draft 3 entries, target 4; 1 only in the target, e.g. 'd\\n'"


def test_missing_or_wrong_spec_is_refused(tmp_path: Path) -> None:
    from cuhlm_sim.traces.specs import resolve_spec

    r = _generate("--draft", str(tmp_path / "nope"), "--target", "qwen-coder-1.5b",
                  out=tmp_path / "t.parquet")  # fmt: skip
    _one_line_error(r, "--draft", "is not on disk", "nothing is downloaded from a model hub")
    assert not (tmp_path / "t.parquet.parts").exists()
    with pytest.raises(TraceError, match=r"--target: 'Qwen/Qwen2\.5-7B' is not on disk"):
        resolve_spec("Qwen/Qwen2.5-7B", "--target")
    with pytest.raises(TraceError, match="an early exit can only be the draft"):
        resolve_spec("exit:3", "--target")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceError, match=r"has no config\.json"):
        resolve_spec(str(tmp_path / "empty"), "--draft")
    (tmp_path / "x.gguf").write_bytes(b"not a gguf")
    with pytest.raises(TraceError, match="is not a GGUF file"):
        resolve_spec(str(tmp_path / "x.gguf"), "--draft")
    assert resolve_spec("qwen-coder-0.5b", "--draft").kind == "builtin"
    assert resolve_spec("exit:12", "--draft").exit_layer == 12


def test_models_is_a_shortcut(tmp_path: Path) -> None:
    from cuhlm_sim.traces.specs import pair_specs

    assert pair_specs(None, None, None)[:2] == ("qwen-coder-0.5b", "qwen-coder-1.5b")
    assert pair_specs("smollm2", None, None)[:2] == ("exit:24", "smollm2-135m")
    r = _generate("--models", "qwen-coder", "--draft", "qwen-coder-0.5b", out=tmp_path / "t.pq")
    _one_line_error(r, "--models is a shortcut")
    _one_line_error(_generate("--draft", "qwen-coder-0.5b", out=tmp_path / "t.pq"), "--target")


def test_device_and_dtype_are_checked(
    tiny_pair_dirs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import torch

    from cuhlm_sim.traces.models import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    base = ("--draft", str(tiny_pair_dirs[0]), "--target", str(tiny_pair_dirs[1]))
    base += ("--prompts", str(write_prompts(tmp_path / "p.jsonl")))
    _one_line_error(_generate(*base, "--device", "tpu", out=tmp_path / "a.pq"), "--device")
    _one_line_error(_generate(*base, "--dtype", "float64", out=tmp_path / "b.pq"), "--dtype")
    if not torch.cuda.is_available():
        r = _generate(*base, "--device", "cuda", out=tmp_path / "c.pq")
        _one_line_error(r, "--device cuda", "sees no CUDA device")


def _full_logits(model: Any, ids: list[int]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0, -1].double().numpy()


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def test_temperatures_shape_p_and_q(tiny_pair: Any, tmp_path: Path) -> None:
    """p = softmax(z_draft/T_draft), q = softmax(z_target/T_target) at the first position of
    every prompt, re-derived from a cache-free forward pass; both temperatures recorded."""
    from cuhlm_sim.traces.generate import GenerateOptions, generate

    prompts = write_prompts(tmp_path / "p.jsonl")
    opts = GenerateOptions(
        prompts_file=str(prompts),
        prompts_per_kind=None,
        max_new_tokens=3,
        k_grid=(1, 2, 64),
        threads=1,
        batch_size=3,
        temperature_draft=0.6,
        temperature_target=1.7,
    )
    out = tmp_path / "t.parquet"
    generate(opts, out, pair=tiny_pair, progress=False)
    meta = _meta(out)
    assert (meta["temperature_draft"], meta["temperature_target"]) == (0.6, 1.7)
    df = pq.read_table(out).to_pandas()
    from cuhlm_sim.traces.generate import select_prompts

    for p in select_prompts(opts, tiny_pair.tokenizer):
        ids = tiny_pair.tokenizer(p.text, add_special_tokens=False)["input_ids"]
        row = df[(df["prompt_id"] == p.prompt_id) & (df["pos"] == 0)].iloc[0]
        pd_ = _softmax(_full_logits(tiny_pair.draft, ids) / 0.6)
        qd_ = _softmax(_full_logits(tiny_pair.target, ids) / 1.7)
        d = int(row["draft_token"])
        assert row["p_draft"] == pytest.approx(pd_[d], rel=1e-4)
        assert row["q_target"] == pytest.approx(qd_[d], rel=1e-4)
        assert row["entropy"] == pytest.approx(-(pd_ * np.log(pd_)).sum(), rel=1e-4)


def test_output_layers_padded_to_other_sizes_share_the_tokenizer_rows(
    tiny_pair_dirs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Two models of one tokenizer whose output layers have different padding rows (as
    Qwen2.5 0.5B and 7B: 151,936 vs 152,064) load with |V| = the narrower width."""
    import torch
    from transformers import AutoModelForCausalLM

    from cuhlm_sim.traces.models import load_local_pair

    src = tiny_pair_dirs[1]
    wide = tmp_path / "wide"
    shutil.copytree(src, wide)
    model = AutoModelForCausalLM.from_pretrained(str(src))
    model.resize_token_embeddings(64)  # 59 tokens + 5 padding rows
    with torch.no_grad():
        model.lm_head.weight[59:] = 5.0  # would dominate the softmax if they were read
    model.save_pretrained(wide)
    pair = load_local_pair(tiny_pair_dirs[0], wide)
    assert pair.vocab_size == 59
    from cuhlm_sim.traces.generate import GenerateOptions, generate

    out = tmp_path / "t.parquet"
    opts = GenerateOptions(
        prompts_file=str(write_prompts(tmp_path / "p.jsonl", n=2)),
        prompts_per_kind=None,
        max_new_tokens=4,
        k_grid=(1, 64),
        threads=1,
    )
    generate(opts, out, pair=pair, progress=False)
    df = pq.read_table(out).to_pandas()
    assert _meta(out)["vocab_size"] == 59
    assert (df["target_top1"] < 59).all() and (df["out_token"] < 59).all()


def test_out_that_cannot_be_written_is_refused_before_any_model(
    tiny_pair_dirs: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out under a file: one line before a model is loaded (it used to fail at the end)."""
    import cuhlm_sim.traces.generate as generate

    draft, target, _ = tiny_pair_dirs
    monkeypatch.setattr(generate, "generate", lambda *a, **k: pytest.fail("generation started"))
    afile = tmp_path / "afile"
    afile.write_text("mine\n", encoding="utf-8")
    r = _generate("--draft", str(draft), "--target", str(target), out=afile / "t.parquet")
    _one_line_error(r, "--out", "afile is a file")
    assert afile.read_text(encoding="utf-8") == "mine\n"
