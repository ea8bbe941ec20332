"""The device of a policy that reads the device's state (``Policy.uses_state``).

It drafts, transmits and books exactly like :class:`~cuhlm_sim.model.devices.Device`; only its
blocks differ. A row-only device decides up to 1,024 rows at once, long before most of them are
drafted. This one decides when it resumes (a request starts, or its verification returns) and
keeps the rows up to and including the first one the policy transmits, so each decision sees
the :class:`~cuhlm_sim.model.device_state.DeviceState` of its instant; the rows after that one
are asked again once it is verified. Its blocks are the row-only device's blocks cut after
each transmitted row (never across one of their boundaries), so a policy that ignores the
state runs exactly as on the row-only path: the same rows, timers and bookings, up to the order
of the ledger's float sums.

Between two decisions the device drafts only skipped tokens, which touch no shared resource,
and does not stop to look again: a channel change inside such a run is seen at the next
decision (stated simplification). After a block that ends in skips (the last rows of a row-only
block), the next decision comes before the device has waited out their drafting time, as on the
row-only path.

Per transmitted token this costs one policy call and one block booking where the row-only path
spreads them over up to 1,024 rows: on ``cuhlm bench``'s 1,000-device case (23 % of drafts
transmitted), ``uhlm_adaptive`` with slope 0 gives U-HLM's results exactly in about 6× the CPU
time (~65 µs more per transmitted token). Row-only policies never come here.
"""

from __future__ import annotations

import numpy as np

from cuhlm_sim.model.device_state import DeviceState
from cuhlm_sim.model.devices import BLOCK_ROWS, Device
from cuhlm_sim.model.job import Job

#: Rows asked for at a decision before asking for twice as many (runs of skips are short
#: unless the policy skips nearly everything).
PROBE_ROWS = 16


class StateAwareDevice(Device):
    """A :class:`Device` whose policy gets its :class:`DeviceState` at each decision.

    Takes the arguments of :class:`Device` plus ``state``, the view its policy reads.
    """

    __slots__ = ("_frame_left", "state")

    def __init__(self, *args, state: DeviceState, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state = state
        self._frame_left = 0  # rows left in the current row-only block of the request

    def _next_block(self) -> bool:
        """Decide from the cursor up to the first transmitted row, inside the row-only block."""
        if not self._frame_left:
            self._frame_left = min(self._left, BLOCK_ROWS)
        limit = self._frame_left
        policy, state = self.policy, self.state
        rng = self.policy_rng if policy.uses_rng else None
        start, n_rows = self.cursor, self.trace.num_rows
        parts: list[np.ndarray] = []
        size, ask = 0, PROBE_ROWS
        while size < limit:
            n = min(ask, limit - size)
            rows = self._rows_from((start + size) % n_rows, n)
            tx = np.asarray(policy.transmit(rows, rng, state), dtype=bool)
            hit = np.flatnonzero(tx)
            if hit.size:
                first = int(hit[0]) + 1
                parts.append(tx[:first])
                size += first
                break
            parts.append(tx)
            size += n
            ask *= 2
        tx = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self._frame_left -= size
        self._left -= size
        self._block_start = start
        state.drafted(size)
        return self._begin_block(self._plan(start, self._block(size), tx))

    def _on_committed(self, job: Job, now: float) -> None:
        self.state.verified(job)
        super()._on_committed(job, now)
