r"""The SNR of every device in one cell over time: mobility → large-scale loss → block fading →
link budget (the ``pathloss`` channel model of issue 5).

.. math::
    \mathrm{SNR}_d(t) = P_{tx} - L_d(\mathbf{x}_d(t)) + 10\log_{10}|h_d(t)|^2
        - \big(N_0 + 10\log_{10} B + NF\big) \quad [\mathrm{dB}]

with :math:`L_d` = path loss + shadowing (:class:`~.geometry.LargeScaleLoss`), positions from
the mobility model (updated every Δ), :math:`|h_d|^2` from :class:`~.fading.BlockFading` and the
noise of :func:`~.budget.noise_power_dbm` over the full band B. For an allocation of part of the
band use :func:`~.budget.snr_over_allocation_db` on the result. The engine calls
:meth:`CellChannel.snr_db` at the instants given by :meth:`CellChannel.next_change_at`, never per
token.
"""

from __future__ import annotations

import numpy as np

from cuhlm_sim.model.channel.budget import noise_power_dbm
from cuhlm_sim.model.channel.fading import BlockFading
from cuhlm_sim.model.channel.geometry import LargeScaleLoss
from cuhlm_sim.model.channel.mobility import RandomWaypoint, StaticMobility


class CellChannel:
    """SNR per device at time t (module equation).

    Parameters
    ----------
    mobility : StaticMobility or RandomWaypoint
        Positions [m] of the devices.
    large_scale : LargeScaleLoss
        Path loss and shadowing of a position.
    fading : BlockFading or None
        Small-scale gains; None = no fading (gain 1).
    tx_power_dbm : float or float64 [num_devices]
        Device transmit power [dBm].
    noise_figure_db : float
        BS receiver noise figure [dB].
    bandwidth_hz : float
        Band B over which the SNR is defined [Hz].

    Input
    -----
    t_s : float
        Simulation time [s], non-decreasing between calls.

    Output
    ------
    float64 [num_devices]
        SNR [dB].
    """

    def __init__(
        self,
        mobility: StaticMobility | RandomWaypoint,
        large_scale: LargeScaleLoss,
        fading: BlockFading | None,
        tx_power_dbm: float | np.ndarray,
        noise_figure_db: float,
        bandwidth_hz: float,
    ) -> None:
        self.mobility = mobility
        self.large_scale = large_scale
        self.fading = fading
        self.tx_power_dbm = np.asarray(tx_power_dbm, dtype=np.float64)
        self.noise_dbm = float(noise_power_dbm(bandwidth_hz, noise_figure_db))
        self._pos: np.ndarray | None = None
        self._mean_snr_db = np.empty(0)  # [num_devices] SNR without fading at _pos

    def mean_snr_db(self, t_s: float) -> np.ndarray:
        """SNR without small-scale fading [dB], float64 [num_devices]; recomputed only when the
        mobility model has produced new positions."""
        pos = self.mobility.positions_at(t_s)  # [num_devices, 2]
        if pos is not self._pos:
            self._mean_snr_db = self.tx_power_dbm - self.large_scale.loss_db(pos) - self.noise_dbm
            self._pos = pos
        return self._mean_snr_db

    def snr_db(self, t_s: float) -> np.ndarray:
        """SNR with fading [dB], float64 [num_devices]."""
        mean = self.mean_snr_db(t_s)
        if self.fading is None:
            return mean.copy()
        return mean + self.fading.gains_db(t_s)

    def next_change_at(self, t_s: float) -> float:
        """Next instant after t_s at which any device's SNR may change [s] (inf if never)."""
        nxt = np.inf
        if isinstance(self.mobility, RandomWaypoint):
            nxt = self.mobility.next_update_at(t_s)
        if self.fading is not None:
            nxt = min(nxt, float(self.fading.next_block_at(t_s).min(initial=np.inf)))
        return float(nxt)
