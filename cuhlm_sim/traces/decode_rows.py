"""Decoding prompts into trace rows: the HLM loop (:mod:`cuhlm_sim.traces.loop`) runs the
pending prompts in batches; each finished prompt's columns become an Arrow table with the
schema's types, written as its own part file."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cuhlm_sim.atomic import atomic_write_text
from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.generate_options import GenerateOptions
from cuhlm_sim.traces.parts import part_name, write_table
from cuhlm_sim.traces.prompts import Prompt
from cuhlm_sim.traces.streams import token_stream, uniforms_per_position

log = logging.getLogger(__name__)

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


def run_prompts(
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
        atomic_write_text(work / "run.json", json.dumps(state, indent=1))

    with Progress(*cols_spec, disable=not progress) as bar:
        t_prompts = bar.add_task("prompts", total=len(pending))
        t_tokens = bar.add_task("tokens (upper bound)", total=len(pending) * opts.max_new_tokens)

        def on_done(prompt: Prompt, cols: dict[str, list[Any]]) -> None:
            nonlocal n_done
            n = len(cols["pos"])
            cols["seq_id"] = [f"{prompt.prompt_id}@{opts.seed}"] * n
            cols["prompt_id"] = [prompt.prompt_id] * n
            cols["kind"] = [prompt.kind] * n
            write_table(to_table(cols, len(opts.k_grid)), work / part_name(prompt.prompt_id))
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
            batch = [e for e in batch if not (work / part_name(e[0].prompt_id)).exists()]
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
