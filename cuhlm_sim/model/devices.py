"""The device process: draft tokens, skip or transmit, wait for verification.

Each device replays the trace from its own random offset with an integer cursor. Per request
it asks the policy for a whole block of decisions at once, then advances through the block:
a run of m skipped tokens followed by a transmitted one costs one timeout of (m + 1)·τ, and a
skipped token never touches a shared resource or creates an event of its own.

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
from collections.abc import Generator, Sequence

import numpy as np
import simpy

from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import DeviceParams
from cuhlm_sim.model.policies.base import Policy
from cuhlm_sim.model.recording import Recorder
from cuhlm_sim.model.rng import Stream, stream
from cuhlm_sim.model.timers import DraftTimers
from cuhlm_sim.traces.arrays import TraceArrays

#: Largest block of trace rows decided at once: bounds per-device memory (~60 kB at most)
#: however long a request is, while the per-block numpy work (~50 µs) stays small per token.
BLOCK_ROWS = 1024


def _f64(a: np.ndarray) -> array:
    out = array("d")
    out.frombytes(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return out


def _i64(a: np.ndarray) -> array:
    out = array("q")
    out.frombytes(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return out


class Device:
    """One mobile device running the SLM.

    Parameters
    ----------
    index : int
        Device id (also its RNG spawn key).
    seed : int
        The run's seed; the device's policy and think-time streams derive from it.
    offset : int
        First trace row it replays.
    submit : callable(list[Job])
        Where transmitted drafts go (the uplink, or the GPU directly for LLM-only).
    timers : DraftTimers
        The cell's shared draft-completion timers (closed-loop hybrid devices use them).
    """

    # Slots: the per-token paths read a dozen attributes; slot reads are the cheapest.
    __slots__ = (
        "_accepted",
        "_bits",
        "_block_start",
        "_block_tx",
        "_cum",
        "_exact",
        "_first_commit",
        "_gaps",
        "_j",
        "_job",
        "_ks",
        "_ledger",
        "_left",
        "_llm_i",
        "_llm_rows",
        "_n_sent",
        "_pending",
        "_policy_rng",
        "_prio",
        "_req_start",
        "_rows",
        "_seed",
        "_sent_pos",
        "_sent_rows",
        "_size",
        "_tau",
        "_think_rng",
        "_timers",
        "_window",
        "cursor",
        "env",
        "index",
        "params",
        "policy",
        "priority_key",
        "recorder",
        "requests_done",
        "start_delay_s",
        "submit",
        "trace",
    )

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        params: DeviceParams,
        trace: TraceArrays,
        policy: Policy,
        submit,
        recorder: Recorder,
        offset: int,
        seed: int,
        start_delay_s: float = 0.0,
        priority_key: np.ndarray | None = None,
        *,
        timers: DraftTimers,
    ) -> None:
        self.env = env
        self.index = index
        self.params = params
        self.trace = trace
        self.policy = policy
        self.submit = submit
        self.recorder = recorder
        self.cursor = offset
        self._seed = seed
        self._policy_rng: np.random.Generator | None = None
        self._think_rng: np.random.Generator | None = None
        self.requests_done = 0
        self._first_commit = -1.0  # the current request's first token commit, once known
        self._tau = params.token_time_s  # device time per drafted token [s], read per token
        self.start_delay_s = start_delay_s
        self.priority_key = priority_key  # [num_rows] GPU queue priority of each trace row
        # Book every token as it happens when every token is logged (the log needs each
        # one); otherwise book per block and take back what falls outside the window.
        self._exact = recorder.log_tokens
        self._window = recorder.window  # the window rule (take-backs ask it)
        self._sent_pos = array("q")  # no block yet
        self._j = 0
        self._prio = None
        # A closed-loop device has at most one draft in flight: one Job, reused.
        self._job = job = Job(index, 0, 0.0)
        job.on_done = self._on_committed
        job.slm_s = self._tau
        job.prebooked = not self._exact
        self._timers = timers
        self._ledger = recorder.ledger  # what each token adds to the counters
        self._cum = None

    # Streams are made on first use: a Generator costs ~10 µs to create, and most devices
    # never draw from theirs (deterministic policies, fixed think times).
    @property
    def policy_rng(self) -> np.random.Generator:
        if self._policy_rng is None:
            self._policy_rng = stream(self._seed, Stream.POLICY, self.index)
        return self._policy_rng

    @property
    def think_rng(self) -> np.random.Generator:
        if self._think_rng is None:
            self._think_rng = stream(self._seed, Stream.THINK, self.index)
        return self._think_rng

    def _think_s(self) -> float:
        mean = self.params.think_time_s
        if mean <= 0:
            return 0.0
        if self.params.think_time_dist == "fixed":
            return mean
        return float(self.think_rng.exponential(mean))

    # -- scheduling helpers ---------------------------------------------------------------
    def _after(self, delay: float, callback) -> None:
        """Call ``callback(event)`` ``delay`` seconds from now: one Timeout, no process."""
        self.env.timeout(delay).callbacks.append(callback)

    def start(self) -> None:
        """Begin replaying; called once by the engine at t = 0."""
        if self.params.arrival == "poisson":
            self.env.process(self._run_open(self.start_delay_s))
            return
        begin = self._llm_request if self.policy.mode == "llm_only" else self._hybrid_request
        if self.start_delay_s > 0:
            self._after(self.start_delay_s, lambda _ev: begin())
        else:
            begin()

    def _rows_from(self, start: int, size: int) -> np.ndarray:
        """``size`` trace rows from ``start``, wrapping around the end of the trace."""
        n = self.trace.num_rows
        if start + size <= n:
            return np.arange(start, start + size)
        return (start + np.arange(size)) % n

    def _block(self, size: int) -> np.ndarray:
        """The next ``size`` trace rows, advancing the cursor."""
        rows = self._rows_from(self.cursor, size)
        self.cursor = (self.cursor + size) % self.trace.num_rows
        return rows

    def _block_cums(self) -> np.ndarray:
        """The block's skip prefix sums, made on first use: only runs at the window edges, the
        end of the run and the per-token log read them."""
        if self._cum is None:
            rows = self._rows_from(self._block_start, self._size)
            self._cum = self._ledger.block_skip_prefix(rows, self._block_tx)
        return self._cum

    # -- hybrid devices (SLM drafts, some drafts verified) ---------------------------------
    # Skipped tokens and the wait for a verification are chained with callbacks on
    # timeouts rather than a generator process: a process resume costs more than the rest
    # of a token's bookkeeping, and this model has no other use for a process per device.

    def _hybrid_request(self) -> None:
        self._req_start = self.env.now  # the request's first draft starts now
        self._left = self.params.tokens_per_request
        self._pending = 0.0  # device time owed to skipped tokens, not yet waited for
        self._first_commit = -1.0  # set by the first block (skipped) or the first commit
        self._next_block()

    def _next_block(self) -> None:
        size = min(self._left, BLOCK_ROWS)
        self._left -= size
        self._block_start = self.cursor
        rows = self._block(size)
        policy = self.policy
        self._begin_block(rows, policy.transmit(rows, self.policy_rng if policy.uses_rng else None))

    def _begin_block(self, rows: np.ndarray, tx: np.ndarray) -> None:
        """Book a decided block (rows from ``_block_start``, ``tx`` per row) and start on it."""
        policy = self.policy
        size = rows.shape[0]
        sent_pos = np.flatnonzero(tx)
        sent_rows = rows[sent_pos]
        n_sent = sent_pos.size
        self._block_tx = tx
        self._cum = None
        if self._first_commit < 0 and not tx[0]:  # the request's first token is a skip
            self._first_commit = self.env.now + self._tau
        self._rows = rows if self._exact else None
        self._size = size
        if not self._exact:
            # Skip sums = the whole block's (O(1) from the trace's prefix sums) minus the
            # transmitted rows'.
            sums = self._ledger.block_skip_sums(self._block_start, size, sent_rows)
            self.recorder.skipped_block(self.index, sums, self._tau)
        self._sent_pos = _i64(sent_pos)
        self._n_sent = n_sent
        self._j = 0
        if not n_sent:
            self._finish_block(0)
            return
        # Columns read per transmitted draft are array.array: indexing them is as fast as a
        # list (a Python scalar comes out) at 8 bytes an entry, ~40 kB a device.
        # Skipped tokens before each transmitted draft, counted from the previous one.
        gaps = sent_pos.copy()
        gaps[1:] -= sent_pos[:-1] + 1
        self._gaps = _i64(gaps)
        self._bits = _f64(policy.payload_bits(sent_rows))
        # Read per token only by the per-token log; otherwise only by the block bookings.
        self._sent_rows = sent_rows
        self._accepted = policy.accepted(sent_rows)
        self._ks = policy.truncation_k(sent_rows)
        if not self._exact:
            self._book_sent(0, n_sent, 1)
        if self.priority_key is not None:
            self._prio = _f64(self.priority_key[sent_rows])
        self._to_draft(0, self.env.now)

    def _to_draft(self, j: int, now: float) -> None:
        """Pass the run of skips before transmitted draft ``j`` and schedule its drafting:
        one timer for the whole run plus the draft, shared with other devices when they
        finish at the same instant."""
        tau = self._tau
        m = self._gaps[j]
        pending = self._pending
        if m:
            t0 = now + pending
            # The common case of _skip, checked here: a run inside the window costs nothing.
            if self._exact or not self._window.holds_run(t0, tau, m):
                self._skip(m, self._sent_pos[j] - m, t0)
        self._pending = 0.0
        delay = pending + (m + 1) * tau
        job = self._job
        job.bits = self._bits[j]
        if self._exact:  # else these were booked with the block
            job.row = int(self._sent_rows[j])
            job.accepted = bool(self._accepted[j])
            job.k = int(self._ks[j])
        if self._prio is not None:
            job.priority = self._prio[j]
        job.t_start = (now + delay) - tau
        self._timers.after(now, delay, job)

    def _on_committed(self, job: Job, now: float) -> None:
        if self._first_commit < 0:  # the request's first token was verified
            self._first_commit = now
        j = self._j
        if job.prebooked and not self._window.contains(job.t_commit):
            self._book_sent(j, j + 1, -1)  # booked with the block, committed outside the window
        j += 1
        self._j = j
        if j < self._n_sent:
            self._to_draft(j, now)
        else:
            self._finish_block(self._sent_pos[j - 1] + 1)

    def _finish_block(self, pos: int) -> None:
        """Pass the skips after the block's last transmitted draft (from block position
        ``pos``), then go on with the next block, or end the request."""
        tau = self._tau
        m = self._size - pos
        if m:
            self._skip(m, pos, self.env.now + self._pending)
            self._pending += m * tau
        if self._left > 0:
            self._next_block()
            return
        self.requests_done += 1
        self.recorder.request_done(
            self._req_start,
            self._first_commit,
            self.env.now + self._pending,
            self.params.tokens_per_request,
        )
        wait = self._pending + self._think_s()
        if wait > 0:
            self._after(wait, lambda _ev: self._hybrid_request())
        else:
            self._hybrid_request()

    def _skip(self, m: int, pos: int, t0: float) -> None:
        """Book m skipped tokens from block position ``pos`` whose run starts at ``t0``.

        Free when the run lies inside the window (the block booking already counts it);
        otherwise the recorder clips it exactly and the block booking is taken back.
        """
        tau = self._tau
        if not self._exact and self._window.holds_run(t0, tau, m):
            return
        self.recorder.skipped_run(self.index, t0, tau, m, self._block_cums(), pos, self._rows)
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
        self.recorder.skipped_block(self.index, cums[lo] - cums[hi], self._tau)

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

    # -- LLM-only devices (the base station generates every token) ------------------------
    def _llm_request(self) -> None:
        self._req_start = self.env.now
        self._llm_rows = self._block(self.params.tokens_per_request).tolist()
        self._llm_i = 0
        self._llm_submit()

    def _llm_submit(self) -> None:
        job = Job(self.index, self._llm_rows[self._llm_i], 0.0)
        job.t_start = self.env.now
        job.on_done = self._llm_committed
        self.submit([job])

    def _llm_committed(self, job: Job, now: float) -> None:
        self._llm_i += 1
        if self._llm_i == 1:
            self._first_commit = now
        if self._llm_i < len(self._llm_rows):
            self._llm_submit()
            return
        self.requests_done += 1
        self.recorder.request_done(self._req_start, self._first_commit, now, len(self._llm_rows))
        think = self._think_s()
        if think > 0:
            self._after(think, lambda _ev: self._llm_request())
        else:
            self._llm_request()

    # -- open-loop validation workload ------------------------------------------------------
    def _open_decisions(self, rows: np.ndarray) -> tuple[Sequence[bool], np.ndarray]:
        """An open-loop block's decisions (indexed by block position, read when each token
        arrives) and its skip prefix sums (:meth:`TokenLedger.block_skip_prefix`)."""
        policy = self.policy
        tx = policy.transmit(rows, self.policy_rng if policy.uses_rng else None)
        return tx.tolist(), self._ledger.block_skip_prefix(rows, tx)

    def _open_verified(self, job: Job, now: float) -> None:
        """An open-loop draft came back; nobody waits for it."""

    def _run_open(self, start_delay_s: float) -> Generator[simpy.Event, object, None]:
        """Open-loop workload: Poisson token arrivals that never wait for each other."""
        env, rec, policy, dev = self.env, self.recorder, self.policy, self.index
        if start_delay_s > 0:
            yield env.timeout(start_delay_s)
        llm_only = policy.mode == "llm_only"
        tau = 0.0 if llm_only else self.params.token_time_s
        n = self.trace.num_rows
        mean_gap = 1.0 / self.params.arrival_rate_per_s
        while True:
            rows = (self.cursor + np.arange(BLOCK_ROWS)) % n
            self.cursor = (self.cursor + BLOCK_ROWS) % n
            gaps = self.think_rng.exponential(mean_gap, BLOCK_ROWS).tolist()
            tx, cums = self._open_decisions(rows)
            bits = policy.payload_bits(rows).tolist()
            accepted = policy.accepted(rows).tolist()
            ks = policy.truncation_k(rows).tolist()
            for i, row in enumerate(rows.tolist()):
                yield env.timeout(gaps[i])
                if not tx[i]:
                    rec.skipped_run(dev, env.now, tau, 1, cums, i, rows if rec.log_tokens else None)
                    continue
                job = Job(dev, row, bits[i])
                job.accepted, job.k, job.t_start = accepted[i], ks[i], env.now
                job.slm_s = tau
                job.on_done = self._open_verified
                if self.priority_key is not None:
                    job.priority = float(self.priority_key[row])
                if tau > 0:
                    self._timers.after(env.now, tau, job)
                else:
                    self.submit([job])
