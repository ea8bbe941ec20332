"""What every uplink offers the engine, and the registry of ``uplink.scheduler`` kinds.

An uplink takes payloads from the devices (:meth:`Uplink.submit`), carries them at the rates the
channel allows and hands each finished one to ``deliver`` (the GPU server). Each kind registers
a factory in ``UPLINKS`` next to its implementation (``fluid.py``: ``equal_share``;
``slotted.py``: one per resource-block scheduler); the engine builds the run's uplink from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cuhlm_sim.model.job import Job
from cuhlm_sim.model.registry import Registry


class Uplink(Protocol):
    def submit(self, jobs: list[Job]) -> None:
        """Payloads that arrive together (one call per group, not per job)."""

    def rates_changed(self) -> None:
        """The channel has updated the SNRs and spectral efficiencies in place."""

    def close(self, now: float) -> None:
        """Account what is still on the air at the end of the run."""


@dataclass(frozen=True)
class Radio:
    """The channel as an uplink sees it. The engine overwrites both arrays in place (then calls
    :meth:`Uplink.rates_changed`), so an uplink keeps references, never copies."""

    snr_db: np.ndarray  # float64 [num_devices] band SNR [dB]
    eta: np.ndarray  # float64 [num_devices] spectral efficiency [bit/s/Hz] = rate(snr_db)
    rate: Callable[[np.ndarray], np.ndarray]  # SNR [dB] -> spectral efficiency (rate model)


#: ``uplink.scheduler`` -> factory(env, uplink params, radio, deliver, recorder) of the uplink.
UPLINKS: Registry[Uplink] = Registry("uplink scheduler")
