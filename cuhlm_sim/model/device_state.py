"""What a state-aware policy sees of its device when it decides: a small read-only view.

A policy with ``uses_state = True`` gets one :class:`DeviceState` per device with every call
of :meth:`~cuhlm_sim.model.policies.base.Policy.transmit`. Every attribute is read when the
policy asks, so it is the state at the instant of the decision: the channel's arrays are the
ones the engine updates in place, the queue length is the GPU queue's, and the energy is summed
from the device's own counters, which only its device updates (``model/state_device.py``).
Nothing here is read by row-only policies or on their path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import EnergyParams

if TYPE_CHECKING:  # typing only: policies import this module, and the uplink package the model
    import simpy

    from cuhlm_sim.model.uplink.base import Radio


class QueueSource(Protocol):
    """The base station's GPU queue, as a device may see it."""

    @property
    def queue_length(self) -> int: ...


class DeviceState:
    """One device's state at the moment its policy decides.

    Parameters
    ----------
    env : simpy.Environment
    index : int
        The device; its entry in the channel's per-device arrays.
    radio : Radio
        SNR and spectral efficiency of every device, overwritten in place by the engine.
    server : QueueSource
        The GPU server (its ``queue_length``).
    energy : EnergyParams
        Powers [W] of the device energy account (the same terms as ``summary.json``'s
        ``energy_breakdown_j`` device entries).
    token_time_s : float
        τ: mean device time per drafted token [s].
    """

    __slots__ = (
        "_drafted",
        "_energy",
        "_env",
        "_radiated_s",
        "_radio",
        "_server",
        "_tau",
        "_tx_air_s",
        "_wait_s",
        "index",
    )

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        radio: Radio,
        server: QueueSource,
        energy: EnergyParams,
        token_time_s: float,
    ) -> None:
        self._env = env
        self.index = index
        self._radio = radio
        self._server = server
        self._energy = energy
        self._tau = token_time_s
        self._drafted = 0  # tokens drafted before the rows being decided
        self._radiated_s = 0.0  # Σ Job.radiated_s of its verified drafts
        self._tx_air_s = 0.0  # Σ Job.tx_air_s
        self._wait_s = 0.0  # Σ (uplink queue + airtime + GPU queue + GPU + downlink)

    # -- what the policy reads ------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulation time of the decision [s]."""
        return self._env.now

    @property
    def snr_db(self) -> float:
        """The device's uplink SNR now [dB]."""
        return float(self._radio.snr_db[self.index])

    @property
    def eta(self) -> float:
        """The device's spectral efficiency now [bit/s/Hz] (the rate model of the SNR)."""
        return float(self._radio.eta[self.index])

    @property
    def gpu_queue_length(self) -> int:
        """Verifications waiting for a GPU at the base station (not those being served)."""
        return self._server.queue_length

    @property
    def tokens_drafted(self) -> int:
        """Tokens the device drafted before the rows being decided, since t = 0."""
        return self._drafted

    @property
    def energy_j(self) -> float:
        """Device energy spent since t = 0 [J]: drafting, transmitting and waiting for its
        verified drafts, with the summary's terms (not windowed), except that drafting counts
        the mean τ per drafted token where the summary sums each token's (jittered) time: a
        decision made ahead of a block does not know the block's draws yet."""
        e = self._energy
        return (
            e.device_compute_w * self._tau * self._drafted
            + e.tx_power_w * self._radiated_s
            + e.tx_circuit_w * self._tx_air_s
            + e.device_wait_w * (self._wait_s - self._tx_air_s)
        )

    # -- what the device reports (policies never call these) -------------------------------
    def drafted(self, count: int) -> None:
        """``count`` more rows were decided and will be drafted."""
        self._drafted += count

    def verified(self, job: Job) -> None:
        """One of the device's drafts came back from verification (times set by now)."""
        self._radiated_s += job.radiated_s
        self._tx_air_s += job.tx_air_s
        self._wait_s += (job.t_ul_end - job.t_ul_arrive) + (job.t_commit - job.t_gpu_arrive)
