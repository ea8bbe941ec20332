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

This module runs the steps; each job has its own module: the options
(:mod:`~cuhlm_sim.traces.generate_options`), the per-prompt random streams
(:mod:`~cuhlm_sim.traces.streams`), decoding prompts into rows
(:mod:`~cuhlm_sim.traces.decode_rows`), the part files and their merge
(:mod:`~cuhlm_sim.traces.parts`) and the trace's metadata (:mod:`~cuhlm_sim.traces.metadata`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cuhlm_sim.atomic import atomic_write_text
from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.decode_rows import run_prompts, stop_ids
from cuhlm_sim.traces.generate_options import QUICK, GenerateOptions, default_out
from cuhlm_sim.traces.metadata import BATCH_ATOL, BATCH_RTOL, read_metadata
from cuhlm_sim.traces.parts import (
    RunResult,
    check_models,
    merge_parts,
    part_name,
    parts_dir,
    read_state,
)
from cuhlm_sim.traces.prompts import (
    Prompt,
    build_prompts,
    file_prompts,
    prompt_file_info,
    prompt_source_info,
)
from cuhlm_sim.traces.streams import uniforms_per_position

__all__ = [
    "BATCH_ATOL",
    "BATCH_RTOL",
    "QUICK",
    "GenerateOptions",
    "RunResult",
    "default_out",
    "generate",
    "parts_dir",
    "read_metadata",
    "select_prompts",
    "stop_ids",
    "uniforms_per_position",
]


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
        other = names.setdefault(part_name(p.prompt_id), p.prompt_id)
        if other != p.prompt_id:
            raise TraceError(
                f"--prompts: ids {other!r} and {p.prompt_id!r} map to the same part file "
                "('/' is written as '__'); rename one"
            )
    return prompts


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
    state = read_state(work, opts)
    pending = [p for p in ids_only if not (work / part_name(p.prompt_id)).exists()]
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
        check_models(state, pair, work)
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
        atomic_write_text(work / "run.json", json.dumps(state, indent=1))
        n_done, generated = run_prompts(
            pair, pending, opts, stops, work, state, progress, stop_after
        )
        if stop_after is not None and n_done >= stop_after:
            return RunResult(out, len(ids_only), 0, generated, time.perf_counter() - t_start)
    if not state:
        raise TraceError(f"{work}: run.json missing; delete the folder and rerun")
    return merge_parts(opts, out, work, ids_only, state, generated, time.perf_counter() - t_start)
