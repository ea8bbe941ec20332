"""The open-loop token workload (``devices.arrival: poisson``), for validation.

Each device emits tokens as a Poisson stream at ``arrival_rate_per_s``; drafting is a pure
delay and tokens never wait for each other, so a cell's queues see a known Poisson input
(M/G/1 checks). There are no requests.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np
import simpy

from cuhlm_sim.model.device_base import BLOCK_ROWS, DeviceBase
from cuhlm_sim.model.device_state import DeviceState
from cuhlm_sim.model.job import Job


class OpenLoopDevice(DeviceBase):
    """Takes the arguments of :class:`~cuhlm_sim.model.device_base.DeviceBase`."""

    __slots__ = ()

    def start(self) -> None:
        self.env.process(self._run_open(self.start_delay_s))

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
        jitter = self._slm_times if not llm_only else None
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
            taus = self.drafting_times(rows).tolist() if jitter is not None else None
            log_rows = rows if rec.log_tokens else None
            for i, row in enumerate(rows.tolist()):
                yield env.timeout(gaps[i])
                t = tau if taus is None else taus[i]
                if not tx[i]:
                    # A jittered time goes as a one-value array: the recorder keeps those as
                    # values (bounded), a float as a count per distinct time.
                    lat = t if taus is None else np.array([t])
                    rec.skipped_run(dev, np.array([env.now + t]), lat, cums, i, log_rows)
                    continue
                job = Job(dev, row, bits[i])
                job.accepted, job.k, job.t_start = accepted[i], ks[i], env.now
                job.slm_s = t
                job.on_done = self._open_verified
                if self.priority_key is not None:
                    job.priority = float(self.priority_key[row])
                if t > 0:
                    self._timers.after(env.now, t, job)
                else:
                    self.submit([job])


class StateAwareOpenLoopDevice(OpenLoopDevice):
    """The open loop of a policy that reads the device's state: each token is decided when
    it arrives, with the :class:`DeviceState` of that instant. Takes the arguments of
    :class:`OpenLoopDevice` plus ``state``."""

    __slots__ = ("state",)

    def __init__(self, *args, state: DeviceState, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state = state

    def _open_decisions(self, rows: np.ndarray) -> tuple[Sequence[bool], np.ndarray]:
        # Prefix sums as if every row were skipped: the loop reads them only across the one
        # position of a skipped token, where that is true.
        return _OnArrival(self, rows), self._ledger.block_skip_prefix(
            rows, np.zeros(rows.shape[0], dtype=bool)
        )

    def _open_verified(self, job: Job, now: float) -> None:
        self.state.verified(job)


class _OnArrival(Sequence[bool]):
    """An open-loop block's decisions, each made when the loop reads it (its token arrives)."""

    def __init__(self, device: StateAwareOpenLoopDevice, rows: np.ndarray) -> None:
        self._device = device
        self._rows = rows

    def __len__(self) -> int:
        return self._rows.shape[0]

    def __getitem__(self, i):  # type: ignore[override]  (positions only, never slices)
        d = self._device
        rng = d.policy_rng if d.policy.uses_rng else None
        decision = bool(d.policy.transmit(self._rows[i : i + 1], rng, d.state)[0])
        d.state.drafted(1)
        return decision
