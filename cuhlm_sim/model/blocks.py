"""A decided block of trace rows: which rows are sent, and what each sent one carries.

A device decides up to 1,024 rows at once (:mod:`cuhlm_sim.model.devices`). Everything about
the block that follows from its rows alone is made here in one go: the policy's decisions,
the positions of the transmitted drafts and the skips between them, their payloads, accept
decisions and truncation sizes, and the ledger's sums for booking the block. Only the drafting
times (jittered per replay) are the device's own.

A row-only policy that draws no random numbers (``Policy.uses_rng`` False) decides the same
rows the same way every time, and every device replays the same trace sequences, so a run keeps
one :class:`BlockPlan` per distinct block (:class:`BlockPlans`) and all its devices reuse it: a
request's block costs one dictionary lookup instead of some twenty numpy calls (~100 µs) once
the sequence has been replayed. Shared plans are never written to.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from cuhlm_sim.model.policies.base import Policy


def as_f64(a: np.ndarray) -> array:
    """float64 numpy -> array('d'): per-token reads give Python floats at 8 bytes an entry."""
    out = array("d")
    out.frombytes(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return out


def as_i64(a: np.ndarray) -> array:
    """int numpy -> array('q'), as :func:`as_f64`."""
    out = array("q")
    out.frombytes(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return out


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One decided block. Columns read per transmitted draft are ``array.array`` (indexing
    gives a Python scalar, as a list would, at 8 bytes an entry)."""

    rows: np.ndarray  # int64 [size]: the trace rows, in replay order
    tx: np.ndarray  # bool [size]: transmitted
    sent_pos: array  # 'q' [n_sent]: block positions of the transmitted rows
    gaps: array  # 'q' [n_sent]: skipped rows before each transmitted one (since the previous)
    bits: array  # 'd' [n_sent]: payload of each transmitted draft
    row_ids: array  # 'q' [n_sent]: trace row of each (Job.row)
    sent_rows: np.ndarray  # int64 [n_sent]: the same, for numpy indexing
    accepted: np.ndarray  # bool [n_sent]: the LLM accepts the draft
    ks: np.ndarray  # int64 [n_sent]: truncation size
    prio: array | None  # 'd' [n_sent]: GPU queue priority, None without a priority queue
    skip_sums: np.ndarray  # the ledger's SKIP sums over the block's skipped rows
    sent_sums: np.ndarray  # the ledger's SENT sums over its transmitted rows

    @classmethod
    def decide(
        cls,
        start: int,
        rows: np.ndarray,
        tx: np.ndarray,
        policy: Policy,
        ledger,  # cuhlm_sim.metrics.ledger.TokenLedger (the recorder's; the model never imports it)
        priority_key: np.ndarray | None,
    ) -> BlockPlan:
        """The plan of ``rows`` (from trace row ``start``) with the decisions ``tx``."""
        tx = np.asarray(tx, dtype=bool)
        sent_pos = np.flatnonzero(tx)
        sent_rows = rows[sent_pos]
        gaps = sent_pos.copy()
        gaps[1:] -= sent_pos[:-1] + 1
        accepted = policy.accepted(sent_rows)
        ks = policy.truncation_k(sent_rows)
        skip_sums = ledger.block_skip_sums(start, rows.shape[0], sent_rows)
        sent_sums = ledger.sent_sums(sent_rows)
        for a in (rows, tx, sent_rows, accepted, ks, skip_sums, sent_sums):
            a.setflags(write=False)  # shared by the run's devices: nobody may write
        return cls(
            rows=rows,
            tx=tx,
            sent_pos=as_i64(sent_pos),
            gaps=as_i64(gaps),
            bits=as_f64(policy.payload_bits(sent_rows)),
            row_ids=as_i64(sent_rows),
            sent_rows=sent_rows,
            accepted=accepted,
            ks=ks,
            prio=None if priority_key is None else as_f64(priority_key[sent_rows]),
            skip_sums=skip_sums,
            sent_sums=sent_sums,
        )


class BlockPlans(dict):
    """(first row, size) -> :class:`BlockPlan`: one run's plans, shared by its devices (only
    for a policy whose decisions depend on the rows alone, see the module docstring)."""
