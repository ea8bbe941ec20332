"""Shared timers for transmitted drafts: when a draft is done, it goes to the uplink."""

from __future__ import annotations

from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.job import Job


class DraftTimers:
    """One scheduled call per distinct draft-completion instant, shared by every device whose
    draft completes then.

    All devices of a GPU batch resume together when its results return; those whose next
    transmitted draft is the same number of tokens away finish drafting at the same instant,
    so one event carries them all to the uplink as a group (with HLM: one event per batch).
    """

    def __init__(self, env: Environment, submit) -> None:
        self.env = env
        self.submit = submit  # callable(list[Job])
        self._groups: dict[float, list[Job]] = {}  # pending completion time -> its jobs

    def after(self, now: float, delay: float, job: Job) -> None:
        """Submit ``job`` ``delay`` seconds after ``now`` (the current simulation time)."""
        at = now + delay  # the float the environment computes for the call's time
        group = self._groups.get(at)
        if group is None:
            self._groups[at] = [job]
            self.env.call_later(delay, self._fire, at)
        else:
            group.append(job)

    def _fire(self, at: float) -> None:
        self.submit(self._groups.pop(at))
