"""The in-memory form of a trace: one numpy array per column, loaded once.

The simulator's hot loop indexes these arrays with integer cursors; it never touches pandas or
pyarrow. Everything a policy may need (uncertainty, acceptance, truncation columns) is here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cuhlm_sim.traces.grid import at_or_below


@dataclass(frozen=True, slots=True)
class TraceArrays:
    r"""Token-level trace columns, all of length ``num_rows``.

    Parameters
    ----------
    uncertainty : float64 [num_rows]
        SLM uncertainty u in [0, 1], exactly k/K in float64 when the trace is on the grid.
    accepted : bool [num_rows]
        Whether the LLM accepted the full-vocabulary draft (``u_accept < accept_prob``).
    accept_prob : float64 [num_rows]
        pi = min(1, q(d)/p(d)).
    u_accept : float64 [num_rows]
        Uniform used by the accept test; reconstructed consistently with ``accepted`` when the
        file lacks it, so truncated acceptance stays coupled to the full-vocabulary outcome.
    p_draft : float64 [num_rows]
        p(d), the draft probability of the drafted token.
    entropy, top1_prob : float64 [num_rows]
        H(p) [nats] and the largest draft probability (alternative uncertainty signals).
    k_grid : int64 [G]
        Truncation sizes k of the per-k columns (empty if the trace has none).
    topk_accept_prob, topk_mass, topk_l1 : float64 [num_rows, G] or None
        Acceptance probability, kept mass and L1 distortion under top-k truncation.
    topk_tv_out : float64 [num_rows, G] or None
        TV distance between the output token's law under top-k truncation and q.
    importance : float64 [num_rows] or None
        Optional attention importance of the draft position.
    u_count : int64 [num_rows] or None
        Draws (of K) that differ from the draft: the grid form of ``uncertainty``; None when
        the trace's u is continuous. Skip decisions compare these counts
        (:mod:`cuhlm_sim.traces.grid`).
    u_draws : int or None
        K, the number of tempered draws behind ``u_count``.
    kind : int8 [num_rows]
        Index into ``kind_names``.
    seq_start : int64 [num_sequences + 1]
        Row where each generated sequence starts, then ``num_rows``: sequence s is rows
        ``seq_start[s]:seq_start[s + 1]``, in generation order. A request replays one whole
        sequence (the order of its tokens and the correlation of u inside it are kept).
    seq_prompt : int64 [num_sequences]
        Index into ``prompt_names`` of each sequence's prompt (the unit of the prompt
        bootstrap); the sequence's own id when the file has no ``prompt_id``.
    prompt_draw : int64 [num_drawn] or None
        Indices into ``prompt_names`` of the prompts a prompt bootstrap drew
        (:func:`cuhlm_sim.traces.resample.resample_prompts`), in replay order, repeats
        included; None for the trace as loaded.
    t_draft_ms, t_target_ms : float64 [num_rows] or None
        Recorded draft / verification times of each row (CPU times of the trace run), read by
        the ``trace`` latency distributions.
    vocab_size : int
        |V| of the traced tokenizer.
    """

    uncertainty: np.ndarray
    accepted: np.ndarray
    accept_prob: np.ndarray
    u_accept: np.ndarray
    p_draft: np.ndarray
    entropy: np.ndarray
    top1_prob: np.ndarray
    kind: np.ndarray
    kind_names: tuple[str, ...]
    vocab_size: int
    k_grid: np.ndarray
    topk_accept_prob: np.ndarray | None = None
    topk_mass: np.ndarray | None = None
    topk_l1: np.ndarray | None = None
    topk_tv_out: np.ndarray | None = None
    importance: np.ndarray | None = None
    u_count: np.ndarray | None = None
    u_draws: int | None = None
    seq_start: np.ndarray | None = None
    seq_prompt: np.ndarray | None = None
    prompt_names: tuple[str, ...] = ()
    prompt_draw: np.ndarray | None = None
    t_draft_ms: np.ndarray | None = None
    t_target_ms: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    files: tuple[tuple[str, str], ...] = ()  # (path, sha256) of each file read

    def __post_init__(self) -> None:
        if self.seq_start is None:  # one sequence holding every row
            object.__setattr__(self, "seq_start", np.array([0, self.num_rows], dtype=np.int64))
            object.__setattr__(self, "seq_prompt", np.zeros(1, dtype=np.int64))
            object.__setattr__(self, "prompt_names", ("all",))

    @property
    def num_rows(self) -> int:
        return int(self.uncertainty.shape[0])

    @property
    def num_sequences(self) -> int:
        return int(self.seq_start.shape[0] - 1)

    def seq_lengths(self) -> np.ndarray:
        """int64 [num_sequences]: tokens in each sequence."""
        return np.diff(self.seq_start)

    def k_index(self, k: int) -> int:
        """Column of ``k`` in the per-k arrays; -1 means "no truncation" (k >= |V|)."""
        if k >= self.vocab_size:
            return -1
        hits = np.flatnonzero(self.k_grid == k)
        if hits.size == 0:
            raise KeyError(k)
        return int(hits[0])

    def at_or_below(self, threshold: float) -> np.ndarray:
        """bool [num_rows]: u <= threshold, decided on the integer u_count grid when the trace
        has one (the only comparison every policy and statistic uses)."""
        return at_or_below(self.uncertainty, self.u_count, self.u_draws, threshold)

    def skip_fraction(self, threshold: float) -> float:
        """Share of rows with u <= threshold: U-HLM's skip rate on this trace."""
        return float(np.mean(self.at_or_below(threshold)))

    def select(self, mask: np.ndarray) -> TraceArrays:
        """A trace holding only the rows where ``mask`` is true (e.g. one prompt kind)."""
        seq_of_row = np.repeat(np.arange(self.num_sequences), self.seq_lengths())[mask]
        seq_start, kept = sequence_starts(seq_of_row)
        return self._with_rows(np.flatnonzero(mask), seq_start, self.seq_prompt[kept])

    def take_sequences(self, seq_indices: np.ndarray) -> TraceArrays:
        """A trace made of sequences ``seq_indices`` (repeats allowed) laid end to end, each
        whole and in its own row order, with every per-row column (per-k arrays, recorded
        times, ...) carried along: the replayed trace of a prompt bootstrap."""
        seq_indices = np.asarray(seq_indices, dtype=np.int64)
        lengths = self.seq_lengths()[seq_indices]
        seq_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        # row r of the new trace = first row of its sequence + its position in the sequence
        first = np.repeat(self.seq_start[seq_indices], lengths)
        pos = np.arange(seq_start[-1], dtype=np.int64) - np.repeat(seq_start[:-1], lengths)
        return self._with_rows(first + pos, seq_start, self.seq_prompt[seq_indices])

    def _with_rows(
        self, rows: np.ndarray, seq_start: np.ndarray, seq_prompt: np.ndarray
    ) -> TraceArrays:
        """This trace's rows ``rows`` (integer indices) with the given sequence layout: the
        one place that knows which fields are per-row columns (:data:`ROW_COLUMNS`)."""
        cols = {
            name: None if getattr(self, name) is None else getattr(self, name)[rows]
            for name in ROW_COLUMNS
        }
        return dataclasses.replace(self, **cols, seq_start=seq_start, seq_prompt=seq_prompt)


#: The fields of :class:`TraceArrays` indexed by row (first axis = ``num_rows``); every other
#: array field describes the trace as a whole or its sequences (tests/traces/test_resample.py
#: checks that the two lists cover every array field).
ROW_COLUMNS: tuple[str, ...] = (
    "uncertainty",
    "accepted",
    "accept_prob",
    "u_accept",
    "p_draft",
    "entropy",
    "top1_prob",
    "kind",
    "topk_accept_prob",
    "topk_mass",
    "topk_l1",
    "topk_tv_out",
    "importance",
    "u_count",
    "t_draft_ms",
    "t_target_ms",
)


def sequence_starts(seq_of_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seq_start, first_row_labels) of rows labelled by sequence: a new sequence starts
    wherever the label changes from one row to the next."""
    n = seq_of_row.shape[0]
    if n == 0:
        return np.zeros(1, dtype=np.int64), seq_of_row[:0]
    change = np.flatnonzero(seq_of_row[1:] != seq_of_row[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    return np.append(starts, n), seq_of_row[starts]
