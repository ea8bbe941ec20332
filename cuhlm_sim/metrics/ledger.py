"""The token ledger: what every in-window token adds to the counters, booked in one place.

Which tokens count is :mod:`cuhlm_sim.metrics.window`'s rule. What a token adds is known as
soon as its device has decided its block (the policy's per-row decisions), so each counter is a
column of a per-trace-row table, built once per run:

- :data:`SENT` — what a transmitted (verified) token adds: itself, a rejection, its truncation
  size, payload bits, an uplink transmission, the output TV distance and the rejection
  probability of the untruncated draft;
- :data:`SKIP` — what a skipped token adds: itself, whether the LLM would have accepted it,
  its acceptance probability.

Adding a per-token counter is one column here (its per-row values in
:meth:`TokenLedger.for_policy`) plus its formula in ``metrics/compute.py``. Booking is a sum of
rows, with sign −1 to take a booking back: devices book whole blocks as if every token committed
inside the window and take back, through the same calls, what the window rule excludes.
"""

from __future__ import annotations

import numpy as np

#: Counters of transmitted tokens (columns of ``TokenLedger.sent_table``).
SENT = ("tokens", "rejected", "k", "bits", "transmissions", "output_tv", "exact_rejection")
#: Counters of skipped tokens (columns of ``TokenLedger.skip_table``).
SKIP = ("tokens", "accepted", "accept_prob")

_S = {name: i for i, name in enumerate(SENT)}
_K = {name: i for i, name in enumerate(SKIP)}


class TokenLedger:
    """Per-row counter tables and their in-window totals, overall and per device.

    Parameters
    ----------
    num_devices : int
    sent_table : float64 [num_rows, len(SENT)]
    skip_table : float64 [num_rows, len(SKIP)]
    output_tv_known : bool
        False when the trace cannot tell the output TV distance (the metric is then null).
    """

    def __init__(
        self,
        num_devices: int,
        sent_table: np.ndarray,
        skip_table: np.ndarray,
        output_tv_known: bool = True,
    ) -> None:
        self.sent_table = np.ascontiguousarray(sent_table, dtype=np.float64)
        self.skip_table = np.ascontiguousarray(skip_table, dtype=np.float64)
        self.output_tv_known = output_tv_known
        zero = np.zeros((1, len(SKIP)))
        #: [num_rows + 1, len(SKIP)]: any cyclic range of rows sums in O(1).
        self.skip_prefix = np.concatenate([zero, np.cumsum(self.skip_table, axis=0)])
        self.sent_totals = np.zeros(len(SENT))
        self.skip_totals = np.zeros(len(SKIP))
        self.device_sent = np.zeros((num_devices, len(SENT)))
        self.device_skipped = np.zeros(num_devices)

    @classmethod
    def for_policy(cls, policy, trace, num_devices: int) -> TokenLedger:
        """The tables of one run: per trace row, what the policy's decisions make it add."""
        rows = np.arange(trace.num_rows)
        bits = np.maximum(np.asarray(policy.payload_bits(rows), dtype=np.float64), 0.0)
        tv = policy.output_tv()
        sent = np.column_stack(
            [
                np.ones(rows.size),
                ~np.asarray(policy.accepted(rows), dtype=bool),
                policy.truncation_k(rows),
                bits,
                bits > 0,
                np.zeros(rows.size) if tv is None else tv,
                policy.exact_rejection(),
            ]
        )
        skip = np.column_stack([np.ones(rows.size), trace.accepted, trace.accept_prob])
        return cls(num_devices, sent, skip, output_tv_known=tv is not None)

    # -- booking ------------------------------------------------------------------------------
    def book_sent(self, device: int, rows: np.ndarray, sign: int = 1) -> None:
        """Book (sign 1) or take back (sign −1) the transmitted tokens of ``rows``."""
        v = self.sent_sums(rows)
        self.book_sent_sums(device, -v if sign < 0 else v)

    def book_sent_sums(self, device: int, sums: np.ndarray) -> None:
        """Add :data:`SENT` sums (from :meth:`sent_sums`; negative to take back)."""
        self.sent_totals += sums
        self.device_sent[device] += sums

    def book_skips(self, device: int, sums: np.ndarray) -> None:
        """Add skip sums (a :data:`SKIP` vector, negative to take back)."""
        self.skip_totals += sums
        self.device_skipped[device] += sums[0]

    # -- sums over rows -----------------------------------------------------------------------
    def range_skip_sums(self, start: int, size: int) -> np.ndarray:
        """SKIP sums over ``size`` rows from ``start`` of the trace replayed cyclically."""
        c = self.skip_prefix
        n = c.shape[0] - 1
        end = start + size
        if end <= n:
            return c[end] - c[start]
        laps, rest = divmod(end - n, n)
        return c[n] - c[start] + laps * c[n] + c[rest]

    def sent_sums(self, rows: np.ndarray) -> np.ndarray:
        """:data:`SENT` sums over ``rows`` transmitted."""
        return self.sent_table[rows].sum(axis=0)

    def block_skip_sums(self, start: int, size: int, sent_rows: np.ndarray) -> np.ndarray:
        """SKIP sums over the skipped rows of a block: the whole range minus its sent rows."""
        return self.range_skip_sums(start, size) - self.skip_table[sent_rows].sum(axis=0)

    def block_skip_prefix(self, rows: np.ndarray, transmitted: np.ndarray) -> np.ndarray:
        """[len(rows) + 1, len(SKIP)] prefix sums over a block's *skipped* positions
        (transmitted ones add 0): O(1) skip sums over any range of the block."""
        vals = np.where(transmitted[:, None], 0.0, self.skip_table[rows])
        return np.concatenate([np.zeros((1, len(SKIP))), np.cumsum(vals, axis=0)])

    # -- results ------------------------------------------------------------------------------
    def sent(self, name: str) -> float:
        """In-window total of a :data:`SENT` counter."""
        return float(self.sent_totals[_S[name]])

    def skipped(self, name: str) -> float:
        """In-window total of a :data:`SKIP` counter."""
        return float(self.skip_totals[_K[name]])

    def device_column(self, name: str) -> np.ndarray:
        """float64 [num_devices]: per-device in-window total of a :data:`SENT` counter."""
        return self.device_sent[:, _S[name]].copy()

    @property
    def device_tokens(self) -> np.ndarray:
        """int64 [num_devices]: tokens each device committed inside the window."""
        return np.rint(self.device_sent[:, _S["tokens"]] + self.device_skipped).astype(np.int64)
