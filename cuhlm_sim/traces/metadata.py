"""A generated trace's JSON metadata: how it was made (models, libraries, options, the stream
rule, batching) and what it is an approximation of; and reading it back from a file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.generate_options import GenerateOptions
from cuhlm_sim.traces.importance import DEFINITION as IMPORTANCE_DEFINITION
from cuhlm_sim.traces.schema import METADATA_KEY, SCHEMA_VERSION
from cuhlm_sim.traces.streams import uniforms_per_position

#: The generator's name in every trace it writes (kept when the code moved, so trace metadata
#: stays the same).
GENERATOR_NAME = "cuhlm_sim.traces.generate"
MODE = "hlm_gamma1"
APPROXIMATION = (
    "hlm_gamma1 all-transmit run: one draft token per round, every draft verified. Both models' "
    "contexts continue with the token the full HLM outputs (the draft if accepted, else a draw "
    "from (q - p)+ normalised), so each sequence is one realisation of the HLM output. Replaying "
    "a skip or truncation policy treats rows as independent decision points: a skipped or "
    "truncated token whose outcome differs would change the later context, which the trace "
    "does not model."
)

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


def trace_metadata(
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
