"""A device whose every token the base station's LLM generates (``policy.kind: llm_only``).

The baseline without an SLM: each token is one job straight to the GPU (no uplink payload),
the next one submitted when the previous one commits.
"""

from __future__ import annotations

from cuhlm_sim.model.device_base import DeviceBase
from cuhlm_sim.model.job import Job


class LlmOnlyDevice(DeviceBase):
    """Takes the arguments of :class:`~cuhlm_sim.model.device_base.DeviceBase`."""

    __slots__ = ("_llm_i", "_llm_rows")

    def _serve(self, n: int) -> None:
        self._llm_rows = list(range(self.cursor, self.cursor + n))
        self._llm_i = 0
        self._llm_submit()

    def _llm_submit(self) -> None:
        job = Job(self.index, self._llm_rows[self._llm_i], 0.0)
        job.t_start = self.env.now
        job.on_done = self._llm_committed
        self.submit([job])

    def _llm_committed(self, job: Job, now: float) -> None:
        if self._first < 0:
            self._first = job.t_commit
        self._llm_i += 1
        if self._llm_i < len(self._llm_rows):
            self._llm_submit()
            return
        # The commit time as the window rule saw it ((start + service) + downlink; ``now`` is
        # start + (service + downlink), which can differ by an ulp).
        self._request_finished(job.t_commit, 0.0)
