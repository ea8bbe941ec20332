"""``--prompts FILE.jsonl``: the user's own prompts, a bad line refused by its number, the file's
hash in the metadata and in the resume key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.prompts import file_prompts, read_prompt_file

GOOD = [
    {"id": "a", "kind": "code", "text": "def f(x):"},
    {"id": "b/1", "kind": "chat", "text": "why is the sky blue", "chat_template": True},
    {"id": "c", "kind": "prose", "text": "The sky", "chat_template": False},
]


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


class _ChatTok:
    chat_template = "yes"

    def apply_chat_template(self, messages: Any, tokenize: bool, add_generation_prompt: bool):
        return f"<user>{messages[0]['content']}</user><assistant>"


def test_reads_the_file_in_order_and_templates_chat_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", [GOOD[0], "", GOOD[1], GOOD[2]])  # blank line skipped
    assert [p.prompt_id for p in read_prompt_file(path)] == ["a", "b/1", "c"]
    prompts = file_prompts(path, (), None, _ChatTok())
    assert [p.text for p in prompts] == [
        "def f(x):",
        "<user>why is the sky blue</user><assistant>",
        "The sky",
    ]
    assert [p.template for p in prompts] == ["raw", "chat", "raw"]
    assert [p.prompt_id for p in file_prompts(path, ("chat", "prose"), 1, None)] == ["b/1", "c"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"id": "x", "kind": "code", "text": "t"', "not valid JSON"),
        ('["x", "code", "t"]', "expected a JSON object, got list"),
        ({"id": "x", "kind": "code"}, "missing key 'text'"),
        ({"id": "x", "kind": "code", "text": "t", "chat": True}, "unknown key 'chat'"),
        ({"id": 3, "kind": "code", "text": "t"}, "'id' must be a string"),
        ({"id": "x", "kind": "poetry", "text": "t"}, "kind 'poetry' is not one of"),
        ({"id": "x", "kind": "code", "text": "  "}, "'text' is empty"),
        ({"id": "x", "kind": "code", "text": "t", "chat_template": "yes"}, "true or false"),
        ({"id": "../x", "kind": "code", "text": "t"}, "used in file names"),
        ({"id": "a", "kind": "code", "text": "again"}, "id 'a' already used on line 1"),
    ],
)
def test_a_bad_line_is_refused_by_its_number(tmp_path: Path, bad: Any, message: str) -> None:
    path = _write(tmp_path / "p.jsonl", [GOOD[0], GOOD[2], bad])
    with pytest.raises(TraceError) as err:
        read_prompt_file(path)
    assert f"{path}:3: " in str(err.value) and message in str(err.value)


@pytest.mark.traces
def test_cli_refuses_a_bad_line_before_loading_models(
    tiny_pair_dirs: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: Any
) -> None:
    import cuhlm_sim.traces.models as models
    from cuhlm_sim.cli import app

    def no_models(*a: Any, **k: Any) -> None:
        raise AssertionError("models loaded before the prompt file was read")

    monkeypatch.setattr(models, "load_models", no_models)
    path = _write(tmp_path / "p.jsonl", [GOOD[0], GOOD[1], '{"id": "z", "kind": "code"}'])
    out = tmp_path / "t.parquet"
    r = CliRunner().invoke(
        app,
        ["traces", "generate", "--draft", str(tiny_pair_dirs[0]), "--target",
         str(tiny_pair_dirs[1]), "--prompts", str(path), "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err == f"error: --prompts: {path}:3: missing key 'text'", err
    assert not out.exists() and not (tmp_path / "t.parquet.parts").exists()


@pytest.mark.traces
def test_prompt_file_hash_in_metadata_and_resume_key(tiny_pair: Any, tmp_path: Path) -> None:
    import hashlib

    from cuhlm_sim.traces.generate import GenerateOptions, generate, read_metadata

    path = _write(tmp_path / "p.jsonl", GOOD)
    opts = GenerateOptions(
        prompts_file=str(path), prompts_per_kind=None, max_new_tokens=4, k_grid=(1, 64), threads=1
    )
    out = tmp_path / "t.parquet"
    generate(opts, out, pair=tiny_pair, progress=False, stop_after=1)
    _write(path, [*GOOD[:2], {**GOOD[2], "text": "The sea"}])  # same ids, other text
    with pytest.raises(TraceError, match="different options"):
        generate(opts, out, pair=tiny_pair, progress=False)
    _write(path, GOOD)
    generate(opts, out, pair=tiny_pair, progress=False)
    src = read_metadata(out)["prompt_source"]
    assert src["file"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert src["file"]["chat_template_prompts"] == 1 and len(src["prompts_sha256"]) == 64
