"""Held-out prompts: the trace generator's sources, minus every prompt the shipped trace used.

Scoring a policy on the prompts its threshold was fitted on would flatter it, so the accuracy
run draws from the same three sources (HumanEval, pydoc topics, the chat list; see
:mod:`cuhlm_sim.traces.prompts`) with its own seeded permutation per kind and drops the ids found
in the trace's ``prompt_id`` column. The choice depends only on the seed and that id set.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from cuhlm_sim.accuracy.configs import AccuracyError
from cuhlm_sim.traces.prompts import Prompt, chat_sources, chatml, code_sources, prose_sources
from cuhlm_sim.traces.schema import KINDS

#: Spawn-key base of the held-out selection streams (the trace uses 1..3 and 100).
SELECT_STREAM = 300


def trace_prompt_ids(trace: Path) -> set[str]:
    """Prompt ids of a trace file (``prompt_id`` column)."""
    trace = Path(trace)
    if not trace.exists():
        raise AccuracyError(f"--trace: {trace} not found (needed to hold its prompts out)")
    col = pq.read_table(trace, columns=["prompt_id"]).column("prompt_id")
    return {str(x) for x in col.to_pylist()}


def _sources(kind: str) -> list[tuple[str, str]]:
    if kind == "code":
        return code_sources()
    if kind == "prose":
        return prose_sources()
    return chat_sources()


def heldout_prompts(
    per_kind: int,
    seed: int,
    exclude: set[str],
    tokenizer: object | None,
    kinds: tuple[str, ...] = KINDS,
) -> list[Prompt]:
    """``per_kind`` prompts of each kind not in ``exclude``, kinds interleaved.

    With ``tokenizer=None`` chat prompts keep a fallback ChatML text (enough for ids).
    """
    if per_kind < 1:
        raise AccuracyError(f"--prompts-per-kind: must be >= 1 (got {per_kind})")
    by_kind: dict[str, list[Prompt]] = {}
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            raise AccuracyError(f"--kinds: unknown kind {kind!r} (choose from {', '.join(KINDS)})")
        src = _sources(kind)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SELECT_STREAM + i,)))
        free = [src[j] for j in rng.permutation(len(src)) if f"{kind}/{src[j][0]}" not in exclude]
        if len(free) < per_kind:
            raise AccuracyError(
                f"--prompts-per-kind: only {len(free)} {kind} prompts are not in the trace "
                f"(asked for {per_kind})"
            )
        by_kind[kind] = [
            Prompt(
                f"{kind}/{pid}",
                kind,
                chatml(tokenizer, text) if kind == "chat" else text,
                "ChatML" if kind == "chat" else "raw",
            )
            for pid, text in free[:per_kind]
        ]
    return [by_kind[k][i] for i in range(per_kind) for k in kinds]


def ids_sha256(ids: set[str]) -> str:
    """Hash of an id set (metadata: which prompts were held out)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
