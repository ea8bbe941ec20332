"""Real-trace generator: one Parquet row per generated token of an all-transmit HLM run.

Mode ``hlm_gamma1`` (``docs/theory.md`` §2, draft length 1): at each position both models see
the same context through their KV caches; the draft d ~ p at temperature 1 is verified with
standard speculative sampling against q, and both contexts continue with the HLM output token
(d if accepted, else a draw from (q − p)⁺). Per position we record everything the simulator
needs to replay skipping (uncertainty, §3) and truncation (top-k columns, §5) without the
models. All randomness of a prompt comes from one numpy stream keyed by the prompt id, with a
fixed number of uniforms per position, so a prompt's rows do not depend on which other prompts
ran (that is what makes resuming exact).

The run is resumable: each finished prompt is written atomically to ``<out>.parts/``; a rerun
with the same options skips finished prompts, and the final merge writes ``<out>`` atomically.
torch is imported lazily so this module imports without the ``traces`` extra.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.prompts import Prompt, build_prompts, prompt_source_info
from cuhlm_sim.traces.schema import DEFAULT_K_GRID, KINDS, METADATA_KEY, SCHEMA_VERSION
from cuhlm_sim.traces.token_stats import PositionStats, _Head

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


@dataclass(frozen=True)
class GenerateOptions:
    """What a trace run depends on; everything except ``prompts_per_kind`` and ``threads`` must
    match for a resume (fewer prompts per kind select a prefix of the same prompts)."""

    models: str = "qwen-coder"
    kinds: tuple[str, ...] = KINDS
    prompts_per_kind: int = 12
    max_new_tokens: int = 200
    K: int = 20
    theta_max: float = 2.0
    seed: int = 0
    k_grid: tuple[int, ...] = DEFAULT_K_GRID
    threads: int = 2
    quad_nodes: int = 32

    def validate(self) -> None:
        """Raise TraceError naming the option at fault."""
        checks = [
            (self.K >= 1, "--K", "must be >= 1", self.K),
            (self.theta_max > 0, "--theta-max", "must be > 0", self.theta_max),
            (self.max_new_tokens >= 1, "--max-new-tokens", "must be >= 1", self.max_new_tokens),
            (self.threads >= 1, "--threads", "must be >= 1", self.threads),
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

    def run_key(self) -> dict[str, Any]:
        """The options a resumed run must share with the first one."""
        d = asdict(self)
        d.pop("prompts_per_kind")
        d.pop("threads")
        d["kinds"] = list(self.kinds)
        d["k_grid"] = list(self.k_grid)
        return d


def token_stream(seed: int, prompt_id: str) -> np.random.Generator:
    """The prompt's own stream: SeedSequence(seed, spawn_key=(100, sha256(prompt_id)[:4]))."""
    key = int.from_bytes(hashlib.sha256(prompt_id.encode()).digest()[:4], "big")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TOKEN_STREAM, key)))


def uniforms_per_position(K: int) -> int:
    """Layout: [draft, K temperatures, K draws, accept test, resample] = 2K + 3 uniforms."""
    return 2 * K + 3


class _Runner:
    """Feeds tokens to draft and target through their KV caches and returns last logits."""

    def __init__(self, pair: Any) -> None:
        self.pair = pair
        self.t_head = _Head(pair.target)
        self.d_head = _Head(pair.draft) if pair.draft is not None else self.t_head

    def start(self) -> None:
        self.d_cache = None
        self.t_cache = None

    def step(self, ids: list[int]) -> tuple[Any, Any, float, float]:
        """Returns (draft logits [V], target logits [V], draft ms, target ms)."""
        import torch

        x = torch.tensor([ids], dtype=torch.long)
        pair = self.pair
        with torch.inference_mode():
            if pair.draft is None:  # early-exit draft: one pass gives both
                t0 = time.perf_counter()
                out = pair.target.model(
                    input_ids=x,
                    past_key_values=self.t_cache,
                    use_cache=True,
                    output_hidden_states=True,
                )
                self.t_cache = out.past_key_values
                zt = self.t_head(out.last_hidden_state[0, -1])
                h = out.hidden_states[pair.draft_exit_layer][0, -1]
                zd = self.d_head(pair.target.model.norm(h))
                ms = (time.perf_counter() - t0) * 1e3
                return zd, zt, ms, ms
            t0 = time.perf_counter()
            od = pair.draft.model(input_ids=x, past_key_values=self.d_cache, use_cache=True)
            self.d_cache = od.past_key_values
            zd = self.d_head(od.last_hidden_state[0, -1])
            t1 = time.perf_counter()
            ot = pair.target.model(input_ids=x, past_key_values=self.t_cache, use_cache=True)
            self.t_cache = ot.past_key_values
            zt = self.t_head(ot.last_hidden_state[0, -1])
            t2 = time.perf_counter()
        return zd, zt, (t1 - t0) * 1e3, (t2 - t1) * 1e3


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


def generate_prompt(
    runner: _Runner,
    stats: PositionStats,
    prompt: Prompt,
    opts: GenerateOptions,
    stops: list[int],
    on_token: Callable[[], None] | None = None,
) -> dict[str, list[Any]]:
    """Run one prompt for up to ``max_new_tokens`` positions; returns columns as lists."""
    tok = runner.pair.tokenizer
    ids = tok(prompt.text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise TraceError(f"prompt {prompt.prompt_id}: tokenizes to nothing")
    rng = token_stream(opts.seed, prompt.prompt_id)
    n_u = uniforms_per_position(opts.K)
    cols: dict[str, list[Any]] = {c: [] for c in (*SCALAR_TYPES, *LIST_COLUMNS)}
    runner.start()
    zd, zt, td, tt = runner.step(ids)
    ctx = len(ids)
    for pos in range(opts.max_new_tokens):
        row = stats(zd, zt, rng.random(n_u))
        row.update(
            seq_id=f"{prompt.prompt_id}@{opts.seed}",
            prompt_id=prompt.prompt_id,
            kind=prompt.kind,
            pos=pos,
            ctx_len=ctx,
            t_draft_ms=td,
            t_target_ms=tt,
        )
        for c, v in row.items():
            cols[c].append(v)
        if on_token is not None:
            on_token()
        if row["out_token"] in stops or pos == opts.max_new_tokens - 1:
            break
        zd, zt, td, tt = runner.step([row["out_token"]])
        ctx += 1
    return cols


def to_table(cols: dict[str, list[Any]], n_k: int) -> pa.Table:
    """Columns → Arrow table with the schema's types (per-k columns as fixed_size_list)."""
    arrays, names = [], []
    for c, typ in SCALAR_TYPES.items():
        if pa.types.is_dictionary(typ):
            arr = pa.array(cols[c], pa.string()).dictionary_encode()
        else:
            arr = pa.array(cols[c], typ)
        arrays.append(arr)
        names.append(c)
    for c in LIST_COLUMNS:
        flat = np.asarray(cols[c], dtype=np.float32).reshape(-1)
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), n_k))
        names.append(c)
    return pa.Table.from_arrays(arrays, names=names)


def _part_name(prompt_id: str) -> str:
    return prompt_id.replace("/", "__") + ".parquet"


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=9, row_group_size=1 << 20)
    tmp.replace(path)


def _atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


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
    None loads the ``opts.models`` preset. ``stop_after`` ends the run after that many newly
    finished prompts without merging (it simulates an interruption in tests).
    """
    opts.validate()
    out = Path(out)
    work = parts_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    state = _read_state(work, opts)
    ids_only = build_prompts(opts.kinds, opts.prompts_per_kind, opts.seed, tokenizer=None)
    pending = [p for p in ids_only if not (work / _part_name(p.prompt_id)).exists()]
    t_start = time.perf_counter()
    generated = 0
    if pending:
        if pair is None:
            from cuhlm_sim.traces.models import get_pair, load_pair

            pair = load_pair(get_pair(opts.models), cache_dir=cache_dir, threads=opts.threads)
        else:
            from cuhlm_sim.traces.models import set_threads

            set_threads(opts.threads)
        from cuhlm_sim.traces.models import lib_versions

        prompts = build_prompts(opts.kinds, opts.prompts_per_kind, opts.seed, pair.tokenizer)
        by_id = {p.prompt_id: p for p in prompts}
        pending = [by_id[p.prompt_id] for p in pending]
        tok = pair.tokenizer
        stops = stop_ids(tok, pair.target)
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
            "prompt_source": prompt_source_info(prompts),
            "timing": state.get("timing", {"tokens": 0, "seconds": 0.0}),
        }
        _atomic_write_text(json.dumps(state, indent=1), work / "run.json")
        stats = PositionStats(pair.vocab_size, opts.K, opts.theta_max, opts.k_grid, opts.quad_nodes)
        runner = _Runner(pair)
        generated = _run_prompts(
            runner, stats, pending, opts, stops, work, state, progress, stop_after
        )
        if stop_after is not None and generated[0] >= stop_after:
            return RunResult(out, len(ids_only), 0, generated[1], time.perf_counter() - t_start)
        generated = generated[1]
    if not state:
        raise TraceError(f"{work}: run.json missing; delete the folder and rerun")
    return _merge(opts, out, work, ids_only, state, generated, time.perf_counter() - t_start)


def _run_prompts(
    runner: _Runner,
    stats: PositionStats,
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

    n_done = n_tok = 0
    cols_spec = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*cols_spec, disable=not progress) as bar:
        t_prompts = bar.add_task("prompts", total=len(pending))
        t_tokens = bar.add_task("tokens (upper bound)", total=len(pending) * opts.max_new_tokens)
        for prompt in pending:
            if (work / _part_name(prompt.prompt_id)).exists():  # finished by another worker
                bar.advance(t_prompts)
                bar.update(t_tokens, total=bar.tasks[t_tokens].total - opts.max_new_tokens)
                continue
            t0 = time.perf_counter()
            cols = generate_prompt(
                runner, stats, prompt, opts, stops, on_token=lambda: bar.advance(t_tokens)
            )
            n = len(cols["pos"])
            dt = time.perf_counter() - t0
            _atomic_write_table(
                to_table(cols, len(opts.k_grid)), work / _part_name(prompt.prompt_id)
            )
            bar.update(t_tokens, total=bar.tasks[t_tokens].total - (opts.max_new_tokens - n))
            bar.advance(t_prompts)
            n_done += 1
            n_tok += n
            state["timing"]["tokens"] += n
            state["timing"]["seconds"] += dt
            _atomic_write_text(json.dumps(state, indent=1), work / "run.json")
            log.info(
                "%s: %d tokens in %.1f s (%.3f s/token), accept rate %.3f, mean alpha %.3f",
                prompt.prompt_id,
                n,
                dt,
                dt / n,
                float(np.mean(cols["accepted"])),
                float(np.mean(cols["overlap_alpha"])),
            )
            if stop_after is not None and n_done >= stop_after:
                break
    return n_done, n_tok


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
    rows_per_kind = {k: kinds.count(k) for k in opts.kinds}
    timing = state.get("timing", {})
    meta = {
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": {"name": GENERATOR_NAME, "version": _version()},
        "mode": MODE,
        "models_preset": opts.models,
        "draft_model": state["draft_model"],
        "target_model": state["target_model"],
        "vocab_size": state["vocab_size"],
        "tokenizer_identical": state["tokenizer_identical"],
        "special_ids": state["special_ids"],
        "libs": state["libs"],
        "threads": state["threads"],
        "device": "cpu",
        "logits": "final projection in float32 on the model's bf16 hidden state",
        "temperature_draft": 1.0,
        "temperature_target": 1.0,
        "K": opts.K,
        "theta_law": "uniform(0, theta_max]",
        "theta_max": opts.theta_max,
        "u_expect_quadrature": f"Gauss-Legendre, {opts.quad_nodes} nodes on [0, theta_max]",
        "k_grid": list(opts.k_grid),
        "seed": opts.seed,
        "stream_rule": (
            "per prompt: numpy default_rng(SeedSequence(seed, spawn_key=(100, "
            "int.from_bytes(sha256(prompt_id)[:4], 'big')))); per position "
            f"{uniforms_per_position(opts.K)} uniforms in the order [draft, K temperatures "
            "theta = theta_max*(1-U), K draws, accept test, resample]; all draws by inverse CDF"
        ),
        "prompt_source": state["prompt_source"],
        "tokenization": "add_special_tokens=False; chat prompts already carry the template",
        "max_new_tokens": opts.max_new_tokens,
        "stop": "a sequence ends after max_new_tokens or when out_token is a stop id",
        "n_prompts": len(prompts),
        "n_tokens": table.num_rows,
        "rows_per_kind": rows_per_kind,
        "seconds_per_token": (timing["seconds"] / timing["tokens"])
        if timing.get("tokens")
        else None,
        "approximation": APPROXIMATION,
    }
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_table(table, out)
    log.info("wrote %s: %d rows from %d prompts", out, table.num_rows, len(prompts))
    return RunResult(out, len(prompts), table.num_rows, generated, seconds, rows_per_kind)


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


def default_out(models: str, quick: bool) -> Path:
    """Shipped traces go to traces/<stem>.parquet; quick ones to out/traces-quick/."""
    from cuhlm_sim.traces.models import get_pair

    stem = get_pair(models).stem
    return (
        Path("out/traces-quick") / f"{stem}.parquet"
        if quick
        else Path("traces") / f"{stem}.parquet"
    )


QUICK = {"prompts_per_kind": 1, "max_new_tokens": 32}
