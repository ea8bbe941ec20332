"""The hybrid device: draft tokens, skip or transmit, wait for verification.

Requests (one trace sequence each) come from :mod:`cuhlm_sim.model.device_base`. Per request
the device asks the policy for a whole block of decisions at once, then advances through
the block: a run of m skipped tokens followed by a transmitted one costs one scheduled call
after their summed drafting times ((m + 1)·τ when times are fixed; per-token draws from the
device's own stream otherwise, :mod:`cuhlm_sim.model.timing`), and a skipped token never
touches a shared resource or creates an event of its own.

Tokens are booked with the recorder per block (one call), assuming every token of the block
commits inside the measurement window: the skips, and what is known in advance of each
transmitted token (its payload, truncation size, accept decision). A skip run that does not lie
wholly inside the window is re-booked exactly, a transmitted token that commits outside it is
taken back when it commits, and :meth:`Device.close` takes back what the run never reached.
Only the times of a transmitted token are booked when it commits.

This is the path of row-only policies. A policy that reads the device's state decides smaller
blocks through the same booking (:mod:`cuhlm_sim.model.state_device`).
"""

from __future__ import annotations

from array import array

import numpy as np

from cuhlm_sim.model.blocks import BlockPlan, BlockPlans, as_f64
from cuhlm_sim.model.device_base import BLOCK_ROWS, DeviceBase
from cuhlm_sim.model.job import Job


class Device(DeviceBase):
    """A device running the SLM: it drafts every token, and the policy decides per token
    whether the LLM verifies it. Takes the arguments of
    :class:`~cuhlm_sim.model.device_base.DeviceBase`."""

    __slots__ = (
        "_accepted",
        "_bits",
        "_block_start",
        "_block_tx",
        "_c",
        "_cum",
        "_durs",
        "_gaps",
        "_j",
        "_job",
        "_ks",
        "_last",
        "_left",
        "_n_sent",
        "_pending",
        "_plans",
        "_prio",
        "_row_ids",
        "_rows",
        "_sent_pos",
        "_sent_rows",
        "_size",
    )

    def __init__(self, *args, block_plans: BlockPlans | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The run's shared plans when the policy decides from the rows alone, else None
        # (model/blocks.py).
        self._plans = block_plans
        self._c = None  # the block's prefix sums of jittered drafting times (None: fixed τ)
        self._durs = None  # the block's jittered drafting times (numpy), or None
        self._sent_pos = array("q")  # no block yet
        self._j = 0
        self._prio = None
        # A closed-loop device has at most one draft in flight: one Job, reused.
        self._job = job = Job(self.index, 0, 0.0)
        job.on_done = self._on_committed
        job.slm_s = self._tau
        job.prebooked = not self._exact
        self._cum = None

    def _block_cums(self) -> np.ndarray:
        """The block's skip prefix sums, made on first use: only runs at the window edges, the
        end of the run and the per-token log read them."""
        if self._cum is None:
            rows = self._rows_from(self._block_start, self._size)
            self._cum = self._ledger.block_skip_prefix(rows, self._block_tx)
        return self._cum

    # -- hybrid devices (SLM drafts, some drafts verified) ---------------------------------
    # Skipped tokens and the wait for a verification are chained with scheduled calls
    # (Environment.call_later) rather than a generator process: a process resume costs more
    # than the rest of a token's bookkeeping, and this model has no other use for a process
    # per device.

    def _serve(self, n: int) -> None:
        self._left = n
        self._pending = 0.0  # device time owed to skipped tokens, not yet waited for
        if not self._next_block():
            self._finish_block(0)

    def _next_block(self) -> bool:
        """Decide and start the next block; False when it transmits nothing (the caller then
        passes its skips with :meth:`_finish_block`)."""
        size = min(self._left, BLOCK_ROWS)
        self._left -= size
        start = self._block_start = self.cursor
        plans = self._plans
        plan = None if plans is None else plans.get((start, size))
        if plan is None:
            rows = self._rows_from(start, size)
            policy = self.policy
            tx = policy.transmit(rows, self.policy_rng if policy.uses_rng else None)
            plan = self._plan(start, rows, tx)
            if plans is not None:
                plans[start, size] = plan
        self.cursor = (start + size) % self.trace.num_rows
        return self._begin_block(plan)

    def _plan(self, start: int, rows: np.ndarray, tx: np.ndarray) -> BlockPlan:
        return BlockPlan.decide(start, rows, tx, self.policy, self._ledger, self.priority_key)

    def _begin_block(self, plan: BlockPlan) -> bool:
        """Book a decided block (its rows from ``_block_start``) and start on its first
        transmitted draft; False when it has none."""
        rows, tx = plan.rows, plan.tx
        size = rows.shape[0]
        self._block_tx = tx
        self._cum = None
        self._rows = rows if self._exact else None
        self._size = size
        if self._slm_times is not None:
            durs = self.drafting_times(rows)
            self._durs = durs
            c = np.empty(size + 1)
            c[0] = 0.0
            np.cumsum(durs, out=c[1:])
            self._c = as_f64(c)
        if self._first < 0 and self._left + size == self._req_tokens and not tx[0]:
            # The request's first token is a skip: it commits one drafting time from now.
            now = self.env.now + self._pending
            self._first = now + (self._tau if self._c is None else self._c[1] - self._c[0])
        if not self._exact:
            # Skip sums = the whole block's (O(1) from the trace's prefix sums) minus the
            # transmitted rows', made with the plan.
            self.recorder.skipped_block(self.index, plan.skip_sums, self._skip_latency(0, size))
        sent_pos = self._sent_pos = plan.sent_pos
        n_sent = self._n_sent = len(sent_pos)
        self._j = 0
        if not n_sent:
            return False
        self._gaps = plan.gaps
        self._bits = plan.bits
        self._sent_rows = plan.sent_rows
        self._row_ids = plan.row_ids  # job.row of each transmitted draft
        self._accepted = plan.accepted
        self._ks = plan.ks
        if not self._exact:
            self._ledger.book_sent_sums(self.index, plan.sent_sums)
        self._prio = plan.prio
        self._to_draft(0, self.env.now)
        return True

    def _skip_latency(self, lo: int, hi: int) -> float | np.ndarray:
        """Drafting times of the skipped tokens at block positions lo..hi-1: τ when times are
        fixed, else one per skipped position."""
        if self._durs is None:
            return self._tau
        return self._durs[lo:hi][~self._block_tx[lo:hi]]

    def _to_draft(self, j: int, now: float) -> None:
        """Pass the run of skips before transmitted draft ``j`` and schedule its drafting:
        one timer for the whole run plus the draft, shared with other devices when they
        finish at the same instant."""
        tau = self._tau
        c = self._c
        m = self._gaps[j]
        p = self._sent_pos[j] - m  # block position of the run's first skip
        pending = self._pending
        if m:
            t0 = now + pending
            if self._exact or not self._run_inside(t0, p, m):  # else the block booking holds
                self._skip(m, p, t0)
        self._pending = 0.0
        if c is None:
            delay = pending + (m + 1) * tau
            d = tau
        else:
            delay = pending + (c[p + m + 1] - c[p])
            d = c[p + m + 1] - c[p + m]
        job = self._job
        job.bits = self._bits[j]
        job.row = self._row_ids[j]
        job.slm_s = d
        if self._exact:  # else these were booked with the block
            job.accepted = bool(self._accepted[j])
            job.k = int(self._ks[j])
        if self._prio is not None:
            job.priority = self._prio[j]
        job.t_start = (now + delay) - d
        self._timers.after(now, delay, job)

    def _on_committed(self, job: Job, now: float) -> None:
        j = self._j
        if job.prebooked and not self._window.contains(job.t_commit):
            self._book_sent(j, j + 1, -1)  # booked with the block, committed outside the window
        if self._first < 0:
            self._first = job.t_commit
        self._last = job.t_commit
        j += 1
        self._j = j
        if j < self._n_sent:
            self._to_draft(j, now)
        else:
            self._finish_block(self._sent_pos[j - 1] + 1)

    def _finish_block(self, pos: int) -> None:
        """Pass the skips after the block's last transmitted draft (from block position
        ``pos``), then go on with the next blocks, or end the request.

        A loop, not a recursion: a long request of skips only passes block after block at one
        instant. The request ends at its last token's commit, computed with the same float
        expression the window rule saw (a skip run's, or the verified token's ``t_commit``).
        """
        tau = self._tau
        while True:
            m = self._size - pos
            if m:
                t0 = self.env.now + self._pending
                if self._exact or not self._run_inside(t0, pos, m):
                    self._skip(m, pos, t0)
                c = self._c
                span = tau * m if c is None else c[pos + m] - c[pos]
                self._last = t0 + span
                self._pending += span
            if self._left <= 0:
                break
            if self._next_block():
                return
            pos = 0
        self._request_finished(self._last, self._pending)

    def _run_inside(self, t0: float, pos: int, m: int) -> bool:
        """Whether every token of the skip run (m tokens from block position ``pos``, starting
        at ``t0``) commits inside the window: its first and last commits decide, computed with
        the expressions :meth:`_skip` uses for all of them. Such a run costs nothing: the block
        booking already counts it."""
        c = self._c
        if c is None:
            tau = self._tau
            return self._window.holds(t0 + tau, t0 + tau * m)
        base = c[pos]
        return self._window.holds(t0 + (c[pos + 1] - base), t0 + (c[pos + m] - base))

    def _skip(self, m: int, pos: int, t0: float) -> None:
        """Book exactly the m skipped tokens from block position ``pos`` whose run starts at
        ``t0`` (a run not wholly inside the window, or any run on the exact path): the recorder
        clips it to the window and the block booking is taken back."""
        tau, c = self._tau, self._c
        if c is None:
            commits = self._window.run_commits(t0, tau, m)
            latency: float | np.ndarray = tau
        else:
            cs = np.frombuffer(c, dtype=np.float64)
            commits = t0 + (cs[pos + 1 : pos + m + 1] - c[pos])
            latency = self._durs[pos : pos + m]
        self.recorder.skipped_run(self.index, commits, latency, self._block_cums(), pos, self._rows)
        if not self._exact:
            self._unbook_skips(pos, pos + m)

    def _book_sent(self, lo: int, hi: int, sign: int) -> None:
        """Book (sign 1) or take back (sign -1) what is known in advance of the block's
        transmitted tokens lo..hi-1 (the ledger's per-row counters)."""
        self._ledger.book_sent(self.index, self._sent_rows[lo:hi], sign)

    def _unbook_skips(self, lo: int, hi: int) -> None:
        """Take back the block booking of the skipped tokens at block positions lo..hi-1
        (transmitted positions in the range add nothing to the skip sums)."""
        cums = self._block_cums()
        self.recorder.skipped_block(self.index, cums[lo] - cums[hi], self._skip_latency(lo, hi))

    def close(self) -> None:
        """Take back the block bookings this device never reached when the run ends: its
        in-flight transmission and everything after it in the block."""
        j, sent = self._j, self._sent_pos
        if self._exact or j >= len(sent):
            return
        self._book_sent(j, len(sent), -1)
        s, size = sent[j], self._size
        n = (size - s - 1) - (len(sent) - j - 1)  # skipped positions after the in-flight one
        if n:
            self._unbook_skips(s + 1, size)
