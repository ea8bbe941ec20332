"""The prompt bootstrap: a run replays prompts drawn with replacement from the trace.

Why: the trace holds a few dozen prompts whose skip rates differ by almost two orders of
magnitude (0.009 to 0.839 in the shipped real trace), so the prompts chosen, not the
simulation's seeds, dominate the uncertainty of a skip rate or a capacity. Tokens of one
prompt are not independent draws, so the prompt is the unit of resampling (a cluster
bootstrap: Davison & Hinkley, *Bootstrap Methods and their Application*, 1997, ch. 3,
hierarchical data): each run draws prompts with replacement and replays
all sequences of each drawn prompt, whole and in order. Over the repetitions of a sweep point,
the spread of a metric then covers the choice of prompts as well as the seed.

Stratified by kind: the number of prompts drawn of each kind (code, prose, chat) equals the
number the trace holds of that kind, drawn with replacement among that kind's prompts only.
The trace was recorded with a fixed number of prompts per kind (16 each in the shipped trace),
and the mix of kinds is a choice of the experiment, not a sampling error; an unstratified
draw would add the variance of the mix (a run replaying 22 code prompts and 10 chat prompts)
to every interval. Resampling within each stratum mirrors the way the trace was sampled (the
stratified bootstrap, Davison & Hinkley, ch. 3). ``trace.kinds`` selects the kinds before the
draw, so only those kinds are resampled and per-kind results stay possible.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cuhlm_sim.traces.arrays import TraceArrays


def prompt_kinds(trace: TraceArrays) -> np.ndarray:
    """int [len(prompt_names)]: each prompt's kind (that of its first row; -1 for a prompt
    with no sequence in this trace)."""
    out = np.full(len(trace.prompt_names), -1, dtype=np.int64)
    starts = trace.seq_start[:-1]
    nonempty = trace.seq_lengths() > 0
    # assigned in reverse so that a prompt keeps the kind of its first sequence
    out[trace.seq_prompt[nonempty][::-1]] = trace.kind[starts[nonempty]][::-1]
    return out


def draw_prompts(trace: TraceArrays, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``trace.prompt_names``: for each kind in ascending kind order, as many
    prompts as the trace holds of that kind, drawn uniformly with replacement among them."""
    kinds = prompt_kinds(trace)
    present = np.flatnonzero(np.bincount(trace.seq_prompt, minlength=len(kinds)) > 0)
    drawn = []
    for k in np.unique(kinds[present]):
        pool = present[kinds[present] == k]
        drawn.append(pool[rng.integers(pool.size, size=pool.size)])
    return np.concatenate(drawn) if drawn else np.zeros(0, dtype=np.int64)


def resample_prompts(trace: TraceArrays, rng: np.random.Generator) -> TraceArrays:
    """The trace a run replays under ``trace.resample_prompts``: the prompts of
    :func:`draw_prompts`, each with all its sequences in trace order, laid end to end.

    The layout is the trace's own: the j-th prompt of kind k (in order of first appearance)
    is replaced by the j-th draw of kind k, so the replayed trace interleaves the kinds as
    the file does; a device that replays part of it sees the file's mix, not a block of one
    kind. ``prompt_draw`` records the draw in that order."""
    drawn = draw_prompts(trace, rng)
    kinds = prompt_kinds(trace)
    _, first_seq = np.unique(trace.seq_prompt, return_index=True)
    layout = trace.seq_prompt[np.sort(first_seq)].copy()  # prompts in order of appearance
    for k in np.unique(kinds[layout]):
        layout[kinds[layout] == k] = drawn[kinds[drawn] == k]
    order = np.argsort(trace.seq_prompt, kind="stable")  # sequences grouped by prompt
    first = np.searchsorted(trace.seq_prompt[order], layout, side="left")
    last = np.searchsorted(trace.seq_prompt[order], layout, side="right")
    seqs = np.concatenate([order[a:b] for a, b in zip(first, last, strict=True)])
    out = trace.take_sequences(seqs)
    return dataclasses.replace(out, prompt_draw=layout.astype(np.int64))


def prompt_counts(trace: TraceArrays) -> dict[str, int] | None:
    """Times each prompt was drawn, by name (drawn prompts only); None without a draw."""
    if trace.prompt_draw is None:
        return None
    names = np.asarray(trace.prompt_names, dtype=object)[trace.prompt_draw]
    labels, counts = np.unique(names.astype(str), return_counts=True)
    return {str(a): int(c) for a, c in zip(labels, counts, strict=True)}
