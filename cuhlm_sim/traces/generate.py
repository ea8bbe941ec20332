"""Real-trace generator: one Parquet row per generated token of an all-transmit HLM run.

Mode ``hlm_gamma1`` (``docs/theory.md`` §2, draft length 1): at each position both models see
the same context through their KV caches; the draft d ~ p is verified with standard speculative
sampling against q, and both contexts continue with the HLM output token (d if accepted, else a
draw from (q − p)⁺). Per position we record everything the simulator needs to replay skipping
(uncertainty, §3) and truncation (top-k columns, §5) without the models, and optionally the
target's attention importance (§7). All randomness of a prompt comes from one numpy stream
keyed by the prompt id, with a fixed number of uniforms per position, so a prompt's rows do not
depend on which other prompts ran or shared its batch (that is what makes resuming exact, and
batching exact up to floating-point rounding in float32: :data:`BATCH_RTOL`).

The pair is any two SPECs (:mod:`cuhlm_sim.traces.specs`) on any torch device; prompts are the
built-in sets or a JSONL file. The run is resumable: each finished prompt is written atomically
to ``<out>.parts/``; a rerun with the same options skips finished prompts, and the final merge
writes ``<out>`` atomically. torch is imported lazily so this module imports without the
``traces`` extra.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.atomic import atomic_path, atomic_write_text
from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.importance import DEFAULT_SINKS
from cuhlm_sim.traces.importance import DEFINITION as IMPORTANCE_DEFINITION
from cuhlm_sim.traces.prompts import (
    Prompt,
    build_prompts,
    file_prompts,
    prompt_file_info,
    prompt_source_info,
)
from cuhlm_sim.traces.schema import DEFAULT_K_GRID, KINDS, METADATA_KEY, SCHEMA_VERSION
from cuhlm_sim.traces.specs import get_pair, pair_stem

log = logging.getLogger(__name__)

GENERATOR_NAME = "cuhlm_sim.traces.generate"
MODE = "hlm_gamma1"
#: Spawn-key namespace of the per-prompt token streams (prompt selection uses 1..3).
TOKEN_STREAM = 100
APPROXIMATION = (
    "hlm_gamma1 all-transmit run: one draft token per round, every draft verified. Both models' "
    "contexts continue with the token the full HLM outputs (the draft if accepted, else a draw "
    "from (q - p)+ normalised), so each sequence is one realisation of the HLM output. Replaying "
    "a skip or truncation policy treats rows as independent decision points: a skipped or "
    "truncated token whose outcome differs would change the later context, which the trace "
    "does not model."
)

SCALAR_TYPES: dict[str, pa.DataType] = {
    "seq_id": pa.dictionary(pa.int32(), pa.string()),
    "prompt_id": pa.dictionary(pa.int32(), pa.string()),
    "kind": pa.dictionary(pa.int32(), pa.string()),
    "pos": pa.int32(),
    "ctx_len": pa.int32(),
    "draft_token": pa.int32(),
    "draft_rank": pa.int32(),
    "p_draft": pa.float32(),
    "q_target": pa.float32(),
    "accept_prob": pa.float32(),
    "overlap_alpha": pa.float32(),
    "entropy": pa.float32(),
    "entropy_target": pa.float32(),
    "top1_prob": pa.float32(),
    "top2_prob": pa.float32(),
    "target_top1": pa.int32(),
    "uncertainty": pa.float32(),
    "u_count": pa.int16(),
    "u_expect": pa.float32(),
    "u_accept": pa.float32(),
    "accepted": pa.bool_(),
    "resampled_token": pa.int32(),
    "out_token": pa.int32(),
    "t_draft_ms": pa.float32(),
    "t_target_ms": pa.float32(),
}
LIST_COLUMNS: tuple[str, ...] = ("topk_mass", "topk_l1", "topk_accept_prob", "topk_tv_out")
#: In float32, a batched run and an unbatched one agree exactly in every token column and within
#: these tolerances in every float column (tested on the tiny CI models; measured on the real
#: Qwen pair: < 6e-6 relative). What differs is floating-point order (GEMMs of another shape,
#: zero-padded attention sums, multi-threaded reductions); a draw flips only if its uniform falls
#: within that difference of a CDF step (≈1e-6 per position). In bf16 or float16 the same order
#: differences flip roundings of the activations: on the real pair probabilities moved by up to
#: 10 % relative and draws flipped after a few tokens, so a batched bf16 trace is another
#: realisation of the same process, not the unbatched rows (see traces/README.md).
BATCH_RTOL = 1e-4
BATCH_ATOL = 1e-6


@dataclass(frozen=True)
class GenerateOptions:
    """What a trace run depends on. ``prompts_per_kind``, ``threads`` and ``batch_size`` may
    change between a run and its resume (fewer prompts per kind select a prefix of the same
    prompts; batching changes floating-point rounding only, see :data:`BATCH_RTOL`); everything
    else must match."""

    draft: str = "qwen-coder-0.5b"
    target: str = "qwen-coder-1.5b"
    models: str | None = "qwen-coder"  # the preset the SPECs came from, if any (informational)
    kinds: tuple[str, ...] = KINDS
    prompts_per_kind: int | None = 12  # None: every prompt of the --prompts file
    max_new_tokens: int = 200
    K: int = 20
    theta_max: float = 2.0
    seed: int = 0
    k_grid: tuple[int, ...] = DEFAULT_K_GRID
    threads: int = 2
    quad_nodes: int = 32
    batch_size: int = 1
    device: str = "cpu"
    dtype: str = "bfloat16"
    temperature_draft: float = 1.0
    temperature_target: float = 1.0
    importance: bool = False
    importance_sinks: int = DEFAULT_SINKS
    prompts_file: str | None = None

    def validate(self) -> None:
        """Raise TraceError naming the option at fault."""
        checks = [
            (self.K >= 1, "--K", "must be >= 1", self.K),
            (self.theta_max > 0, "--theta-max", "must be > 0", self.theta_max),
            (self.max_new_tokens >= 1, "--max-new-tokens", "must be >= 1", self.max_new_tokens),
            (self.threads >= 1, "--threads", "must be >= 1", self.threads),
            (self.batch_size >= 1, "--batch-size", "must be >= 1", self.batch_size),
            (
                self.prompts_per_kind is None or self.prompts_per_kind >= 1,
                "--prompts-per-kind",
                "must be >= 1",
                self.prompts_per_kind,
            ),
            (
                self.temperature_draft > 0,
                "--draft-temperature",
                "must be > 0",
                self.temperature_draft,
            ),
            (
                self.temperature_target > 0,
                "--target-temperature",
                "must be > 0",
                self.temperature_target,
            ),
            (self.importance_sinks >= 0, "importance_sinks", "must be >= 0", self.importance_sinks),
            (self.quad_nodes >= 2, "quad_nodes", "must be >= 2", self.quad_nodes),
            (
                len(self.k_grid) > 0 and all(k >= 1 for k in self.k_grid),
                "k_grid",
                "must be positive",
                self.k_grid,
            ),
            (
                list(self.k_grid) == sorted(set(self.k_grid)),
                "k_grid",
                "must be strictly increasing",
                self.k_grid,
            ),
        ]
        for ok, name, what, got in checks:
            if not ok:
                raise TraceError(f"{name}: {what} (got {got})")
        if self.prompts_file is None:
            bad = [k for k in self.kinds if k not in KINDS]
            if bad or not self.kinds:
                raise TraceError(f"--kinds: expected a subset of {','.join(KINDS)} (got {bad})")

    def run_key(self) -> dict[str, Any]:
        """The options a resumed run must share with the first one."""
        d = asdict(self)
        for k in ("prompts_per_kind", "threads", "batch_size", "models"):
            d.pop(k)
        d["kinds"] = list(self.kinds)
        d["k_grid"] = list(self.k_grid)
        if self.prompts_file is not None:  # the content counts, not where the file lies
            d["prompts_file"] = hashlib.sha256(Path(self.prompts_file).read_bytes()).hexdigest()
        return d


def token_stream(seed: int, prompt_id: str) -> np.random.Generator:
    """The prompt's own stream: SeedSequence(seed, spawn_key=(100, sha256(prompt_id)[:4]))."""
    key = int.from_bytes(hashlib.sha256(prompt_id.encode()).digest()[:4], "big")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TOKEN_STREAM, key)))


def uniforms_per_position(K: int) -> int:
    """Layout: [draft, K temperatures, K draws, accept test, resample] = 2K + 3 uniforms."""
    return 2 * K + 3


def stop_ids(tokenizer: Any, model: Any) -> list[int]:
    """Token ids that end a sequence (EOS, ChatML end of turn, generation-config EOS)."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if gen_eos is not None:
        ids.update(int(i) for i in (gen_eos if isinstance(gen_eos, list) else [gen_eos]))
    vocab = tokenizer.get_vocab()
    for t in ("<|im_end|>", "<|endoftext|>"):
        if t in vocab:
            ids.add(int(vocab[t]))
    return sorted(ids)


def to_table(cols: dict[str, list[Any]], n_k: int) -> pa.Table:
    """Columns → Arrow table with the schema's types (per-k columns as fixed_size_list;
    ``resampled_token`` null where the draft was accepted; ``importance`` when present)."""
    arrays, names = [], []
    for c, typ in SCALAR_TYPES.items():
        if pa.types.is_dictionary(typ):
            arr = pa.array(cols[c], pa.string()).dictionary_encode()
        elif c == "resampled_token":
            v = np.asarray([-1 if x is None else x for x in cols[c]], dtype=np.int64)
            arr = pa.array(v, typ, mask=v < 0)
        else:
            arr = pa.array(np.asarray(cols[c]), typ)
        arrays.append(arr)
        names.append(c)
    for c in LIST_COLUMNS:
        flat = np.asarray(cols[c], dtype=np.float32).reshape(-1)
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), n_k))
        names.append(c)
    if "importance" in cols:
        arrays.append(pa.array(np.asarray(cols["importance"], dtype=np.float32), pa.float32()))
        names.append("importance")
    return pa.Table.from_arrays(arrays, names=names)


def _part_name(prompt_id: str) -> str:
    return prompt_id.replace("/", "__") + ".parquet"


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=9, row_group_size=1 << 20)


def _atomic_write_text(text: str, path: Path) -> None:
    atomic_write_text(path, text)


def parts_dir(out: Path) -> Path:
    """Work folder of a run: ``<out>.parts`` next to the output file."""
    return out.with_name(out.name + ".parts")


@dataclass
class RunResult:
    """What a run produced (for the CLI and the README)."""

    out: Path
    n_prompts: int
    n_tokens: int
    generated_tokens: int
    seconds: float
    rows_per_kind: dict[str, int] = field(default_factory=dict)
    seconds_per_token: float | None = None


def _read_state(work: Path, opts: GenerateOptions) -> dict[str, Any]:
    state_path = work / "run.json"
    if not state_path.exists():
        return {}
    state = json.loads(state_path.read_text(encoding="utf-8"))
    if state.get("run_key") != opts.run_key():
        raise TraceError(
            f"{work}: holds parts of a run with different options "
            f"({state.get('run_key')}); rerun with those options or delete the folder"
        )
    return state


def select_prompts(opts: GenerateOptions, tokenizer: Any) -> list[Prompt]:
    """The run's prompts in order (``tokenizer=None``: ids and kinds only, text untemplated)."""
    if opts.prompts_file is not None:
        prompts = file_prompts(
            Path(opts.prompts_file), opts.kinds, opts.prompts_per_kind, tokenizer
        )
    else:
        prompts = build_prompts(opts.kinds, opts.prompts_per_kind or 12, opts.seed, tokenizer)
    names: dict[str, str] = {}
    for p in prompts:
        other = names.setdefault(_part_name(p.prompt_id), p.prompt_id)
        if other != p.prompt_id:
            raise TraceError(
                f"--prompts: ids {other!r} and {p.prompt_id!r} map to the same part file "
                "('/' is written as '__'); rename one"
            )
    return prompts


def _check_models(state: dict[str, Any], pair: Any, work: Path) -> None:
    """A resumed run must use the same model files as the parts already written."""
    for role in ("draft_model", "target_model"):
        old = state.get(role, {}).get("sha256")
        new = getattr(pair, role.replace("_model", "_info"))["sha256"]
        if old is not None and old != new:
            raise TraceError(
                f"{work}: its parts were made with another {role.split('_')[0]} "
                f"(SHA-256 {old[:12]}..., now {new[:12]}...); delete the folder or use that model"
            )


def generate(
    opts: GenerateOptions,
    out: Path,
    pair: Any = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> RunResult:
    """Generate (or resume) a trace and merge it into ``out``.

    ``pair`` is a loaded :class:`~cuhlm_sim.traces.models.LoadedPair` (tests pass a tiny one);
    None loads ``opts.draft`` and ``opts.target``. ``stop_after`` ends the run after that many
    newly finished prompts without merging (it simulates an interruption in tests).
    """
    opts.validate()
    out = Path(out)
    ids_only = select_prompts(opts, tokenizer=None)  # before anything slow: a bad file fails
    work = parts_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    state = _read_state(work, opts)
    pending = [p for p in ids_only if not (work / _part_name(p.prompt_id)).exists()]
    t_start = time.perf_counter()
    generated = 0
    if pending:
        from cuhlm_sim.traces.models import lib_versions, load_models, set_threads
        from cuhlm_sim.traces.specs import resolve_spec

        if pair is None:
            pair = load_models(
                resolve_spec(opts.draft, "--draft"),
                resolve_spec(opts.target, "--target"),
                device=opts.device,
                dtype=opts.dtype,
                cache_dir=cache_dir,
                threads=opts.threads,
                attn="eager",
            )
        else:
            set_threads(opts.threads)
        if opts.importance and pair.attn != "eager":
            raise TraceError("--importance: the target must be loaded with eager attention")
        _check_models(state, pair, work)
        prompts = select_prompts(opts, pair.tokenizer)
        by_id = {p.prompt_id: p for p in prompts}
        pending = [by_id[p.prompt_id] for p in pending]
        tok = pair.tokenizer
        stops = stop_ids(tok, pair.target)
        source = (
            prompt_file_info(Path(opts.prompts_file), prompts)
            if opts.prompts_file is not None
            else prompt_source_info(prompts)
        )
        state = {
            "run_key": opts.run_key(),
            "draft_model": pair.draft_info,
            "target_model": pair.target_info,
            "vocab_size": pair.vocab_size,
            "tokenizer_identical": pair.tokenizer_identical,
            "special_ids": {
                "bos": tok.bos_token_id,
                "eos": tok.eos_token_id,
                "pad": tok.pad_token_id,
                "stop": stops,
            },
            "libs": lib_versions(),
            "threads": opts.threads,
            "device": pair.device,
            "dtype": pair.dtype,
            "attn": pair.attn,
            "batch_size": opts.batch_size,
            "prompt_source": source,
            "timing": state.get("timing", {"tokens": 0, "seconds": 0.0}),
        }
        _atomic_write_text(json.dumps(state, indent=1), work / "run.json")
        n_done, generated = _run_prompts(
            pair, pending, opts, stops, work, state, progress, stop_after
        )
        if stop_after is not None and n_done >= stop_after:
            return RunResult(out, len(ids_only), 0, generated, time.perf_counter() - t_start)
    if not state:
        raise TraceError(f"{work}: run.json missing; delete the folder and rerun")
    return _merge(opts, out, work, ids_only, state, generated, time.perf_counter() - t_start)


class _Stop(Exception):
    """Raised inside the loop's callback once ``stop_after`` prompts are written."""


def _batches(pair: Any, prompts: list[Prompt], size: int) -> list[list[tuple[Prompt, list[int]]]]:
    """Token ids of each prompt, sorted by length (stable) and cut into batches of ``size``,
    so padding stays short."""
    tok = pair.tokenizer
    enc = []
    for p in prompts:
        ids = tok(p.text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise TraceError(f"prompt {p.prompt_id}: tokenizes to nothing")
        enc.append((p, ids))
    enc.sort(key=lambda e: len(e[1]))
    return [enc[i : i + size] for i in range(0, len(enc), size)]


def _run_prompts(
    pair: Any,
    pending: list[Prompt],
    opts: GenerateOptions,
    stops: list[int],
    work: Path,
    state: dict[str, Any],
    progress: bool,
    stop_after: int | None,
) -> tuple[int, int]:
    """Generate the pending prompts, one atomic part file each; returns (prompts, tokens)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from cuhlm_sim.traces.loop import HlmLoop, Timing
    from cuhlm_sim.traces.token_stats import PositionStats

    # MPS has no float64: the statistics then run on the CPU (logits are copied, [B, V]).
    stats_device = "cpu" if pair.device.startswith("mps") else pair.device
    stats = PositionStats(
        pair.vocab_size,
        opts.K,
        opts.theta_max,
        opts.k_grid,
        opts.quad_nodes,
        opts.temperature_draft,
        opts.temperature_target,
        device=stats_device,
    )
    tok = pair.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
    if opts.batch_size > 1 and pair.dtype != "float32":
        log.warning(
            "--batch-size %d in %s: rows will not equal an unbatched run's (rounding flips "
            "draws); they are another realisation of the same process. --dtype float32 keeps "
            "them equal.",
            opts.batch_size,
            pair.dtype,
        )
    loop = HlmLoop(
        pair,
        stats,
        max_new_tokens=opts.max_new_tokens,
        n_uniforms=uniforms_per_position(opts.K),
        stops=stops,
        pad_id=pad,
        importance_sinks=opts.importance_sinks if opts.importance else None,
        device=pair.device,
    )
    total = Timing()
    n_done = 0
    cols_spec = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )

    def save(timing: Timing) -> None:
        t = state["timing"]
        t["tokens"] += timing.tokens
        t["seconds"] += timing.seconds
        for k in ("draft_s", "target_s", "importance_s", "stats_s"):
            t[k] = t.get(k, 0.0) + getattr(timing, k)
        _atomic_write_text(json.dumps(state, indent=1), work / "run.json")

    with Progress(*cols_spec, disable=not progress) as bar:
        t_prompts = bar.add_task("prompts", total=len(pending))
        t_tokens = bar.add_task("tokens (upper bound)", total=len(pending) * opts.max_new_tokens)

        def on_done(prompt: Prompt, cols: dict[str, list[Any]]) -> None:
            nonlocal n_done
            n = len(cols["pos"])
            cols["seq_id"] = [f"{prompt.prompt_id}@{opts.seed}"] * n
            cols["prompt_id"] = [prompt.prompt_id] * n
            cols["kind"] = [prompt.kind] * n
            _atomic_write_table(
                to_table(cols, len(opts.k_grid)), work / _part_name(prompt.prompt_id)
            )
            bar.update(t_tokens, total=bar.tasks[t_tokens].total - (opts.max_new_tokens - n))
            bar.advance(t_prompts)
            n_done += 1
            log.info(
                "%s: %d tokens, accept rate %.3f, mean alpha %.3f",
                prompt.prompt_id,
                n,
                float(np.mean(cols["accepted"])),
                float(np.mean(cols["overlap_alpha"])),
            )
            if stop_after is not None and n_done >= stop_after:
                raise _Stop

        for batch in _batches(pair, pending, opts.batch_size):
            batch = [e for e in batch if not (work / _part_name(e[0].prompt_id)).exists()]
            if not batch:  # finished by another worker meanwhile
                continue
            rngs = [token_stream(opts.seed, p.prompt_id) for p, _ in batch]
            try:
                timing = loop.run(
                    [p for p, _ in batch],
                    [ids for _, ids in batch],
                    rngs,
                    on_done,
                    on_token=lambda n: bar.advance(t_tokens, n),
                )
            except _Stop:
                break
            total.add(timing)
            save(timing)
            log.info(
                "batch of %d: %d tokens in %.1f s (%.3f s/token)",
                len(batch),
                timing.tokens,
                timing.seconds,
                timing.seconds / max(timing.tokens, 1),
            )
    return n_done, total.tokens


def _merge(
    opts: GenerateOptions,
    out: Path,
    work: Path,
    prompts: list[Prompt],
    state: dict[str, Any],
    generated: int,
    seconds: float,
) -> RunResult:
    """Concatenate finished parts in prompt order and write ``out`` atomically with metadata."""
    missing = [p.prompt_id for p in prompts if not (work / _part_name(p.prompt_id)).exists()]
    if missing:
        raise TraceError(f"{work}: {len(missing)} prompts unfinished ({missing[0]}, ...)")
    tables = [pq.read_table(work / _part_name(p.prompt_id)) for p in prompts]
    table = pa.concat_tables(tables).unify_dictionaries().combine_chunks()
    kinds = table.column("kind").to_pylist()
    rows_per_kind = {k: kinds.count(k) for k in sorted(set(kinds), key=_kind_order)}
    meta = _metadata(opts, state, table.num_rows, len(prompts), rows_per_kind)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_table(table, out)
    log.info("wrote %s: %d rows from %d prompts", out, table.num_rows, len(prompts))
    return RunResult(
        out,
        len(prompts),
        table.num_rows,
        generated,
        seconds,
        rows_per_kind,
        meta["seconds_per_token"],
    )


def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def _metadata(
    opts: GenerateOptions,
    state: dict[str, Any],
    n_rows: int,
    n_prompts: int,
    rows_per_kind: dict[str, int],
) -> dict[str, Any]:
    """The trace's JSON metadata (``docs/models.md`` §9 plus device, dtype, timing)."""
    timing = state.get("timing", {})
    spt = timing["seconds"] / timing["tokens"] if timing.get("tokens") else None
    meta = {
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": {"name": GENERATOR_NAME, "version": _version()},
        "mode": MODE,
        "models_preset": opts.models,
        "draft_spec": opts.draft,
        "target_spec": opts.target,
        "draft_model": state["draft_model"],
        "target_model": state["target_model"],
        "vocab_size": state["vocab_size"],
        "tokenizer_identical": state["tokenizer_identical"],
        "special_ids": state["special_ids"],
        "libs": state["libs"],
        "threads": state["threads"],
        "device": state.get("device", "cpu"),
        "dtype": state.get("dtype", "bfloat16"),
        "attn_implementation": state.get("attn", "default"),
        "batch_size": state.get("batch_size", 1),
        "logits": "final projection in float32 on the model's hidden state",
        "temperature_draft": opts.temperature_draft,
        "temperature_target": opts.temperature_target,
        "K": opts.K,
        "theta_law": "uniform(0, theta_max]",
        "theta_max": opts.theta_max,
        "uncertainty_logits": "draws from softmax(z/theta) on the draft's raw logits z "
        "(theta absolute, whatever temperature_draft)",
        "u_expect_quadrature": f"Gauss-Legendre, {opts.quad_nodes} nodes on [0, theta_max]",
        "k_grid": list(opts.k_grid),
        "seed": opts.seed,
        "stream_rule": (
            "per prompt: numpy default_rng(SeedSequence(seed, spawn_key=(100, "
            "int.from_bytes(sha256(prompt_id)[:4], 'big')))); per position "
            f"{uniforms_per_position(opts.K)} uniforms in the order [draft, K temperatures "
            "theta = theta_max*(1-U), K draws, accept test, resample]; all draws by inverse CDF"
        ),
        "batching": _batching_note(state.get("batch_size", 1), state.get("dtype", "bfloat16")),
        "prompt_source": state["prompt_source"],
        "tokenization": "add_special_tokens=False; chat prompts already carry the template",
        "max_new_tokens": opts.max_new_tokens,
        "stop": "a sequence ends after max_new_tokens or when out_token is a stop id",
        "n_prompts": n_prompts,
        "n_tokens": n_rows,
        "rows_per_kind": rows_per_kind,
        "seconds_per_token": spt,
        "timing": timing,
        "importance": IMPORTANCE_DEFINITION.format(sinks=opts.importance_sinks)
        if opts.importance
        else None,
        "approximation": APPROXIMATION,
    }
    return meta


def _batching_note(batch_size: int, dtype: str) -> str:
    """What a batched run's rows are, relative to an unbatched run's (see BATCH_RTOL)."""
    how = (
        f"prompts sorted by token length, batches of {batch_size}, left padding with attention "
        "masks and per-sequence positions, eager attention"
    )
    if batch_size == 1:
        return "unbatched (batch of 1)"
    if dtype == "float32":
        return (
            f"{how}; token columns equal an unbatched run's, float columns within rtol "
            f"{BATCH_RTOL:g} / atol {BATCH_ATOL:g}"
        )
    return (
        f"{how}; in {dtype} the rounding differs from an unbatched run's, so sequences are other "
        "realisations of the same process (use float32 for the unbatched rows)"
    )


def _version() -> str:
    from cuhlm_sim import __version__

    return __version__


def read_metadata(path: Path) -> dict[str, Any]:
    """The trace's JSON metadata (TraceError if absent)."""
    try:
        md = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise TraceError(f"{path}: not a readable Parquet file ({exc})") from None
    if METADATA_KEY not in md:
        raise TraceError(f"{path}: no {METADATA_KEY.decode()} metadata; not a cuhlm_sim trace")
    return json.loads(md[METADATA_KEY])


def default_out(models: str | None, quick: bool, draft: str = "", target: str = "") -> Path:
    """Traces go to traces/<stem>.parquet, quick ones to out/traces-quick/; the stem is the
    preset's, or ``<draft>--<target>`` for a pair given by SPECs."""
    stem = get_pair(models).stem if models is not None else pair_stem(draft, target)
    return (
        Path("out/traces-quick") / f"{stem}.parquet"
        if quick
        else Path("traces") / f"{stem}.parquet"
    )


QUICK = {"prompts_per_kind": 1, "max_new_tokens": 32}
