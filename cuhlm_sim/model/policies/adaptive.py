r"""Channel-adaptive U-HLM (``uhlm_adaptive``): our own scheme, not from any paper.

U-HLM skips a draft when its uncertainty u <= u_th, with one threshold for every device and
every channel. But a transmission costs the device airtime B / (W_n η) and the energy spent on
the air, and it takes a share of the band from the others: on a poor channel (small spectral
efficiency η) each verification costs several times what it costs on a good one, while a skip
risks the same rejection β(u) either way. So this scheme accepts more skip risk where
transmitting is dear. At each decision the device reads its current η
(:attr:`DeviceState.eta <cuhlm_sim.model.device_state.DeviceState.eta>`) and uses

.. math::
    u_{th}(\eta) = \mathrm{clip}\big(u_{th,0} + s\,(\eta_{ref} - \eta),\ u_{min},\ u_{max}\big)

with :math:`u_{th,0}` = ``policy.threshold`` (the threshold at the reference efficiency
:math:`\eta_{ref}` = ``policy.eta_ref``), the slope :math:`s` = ``policy.threshold_slope``
[per bit/s/Hz] and the bounds ``policy.threshold_min`` / ``threshold_max``. The rule and every
default are assumptions (ASM): linear in η as the simplest monotone rule with one knob;
η_ref = 5.69 bit/s/Hz is Shannon at 17 dB, the project's default SNR, so at the default
operating point the scheme is U-HLM at CU-HLM's u_th = 0.081; s = 0.04 raises u_th to 0.27 at
0 dB (η = 1); the cap 0.43 is U-HLM's risk-prone threshold (SEC), beyond which the papers do not
go.

The threshold is turned into a count as U-HLM's is (:mod:`cuhlm_sim.traces.grid`): skip iff
u_count <= ⌊u_th(η)·K + ε⌋ (u <= u_th(η) on traces without a count grid), so at a given η the
scheme decides exactly as U-HLM at threshold u_th(η). What is sent and how it is verified are
U-HLM's (the full distribution; the trace's accept decision).
"""

from __future__ import annotations

import numpy as np

from cuhlm_sim.model.device_state import DeviceState
from cuhlm_sim.model.params import UhlmAdaptivePolicyParams
from cuhlm_sim.model.policies.base import POLICIES, Policy
from cuhlm_sim.traces.grid import at_or_below


@POLICIES.register("uhlm_adaptive")
class UhlmAdaptivePolicy(Policy):
    """U-HLM with a threshold that rises as the device's spectral efficiency falls."""

    params: UhlmAdaptivePolicyParams
    uses_rng = False
    uses_state = True

    def threshold_at(self, eta: float) -> float:
        """u_th(η) = clip(u_th0 + s·(η_ref − η), u_min, u_max)."""
        p = self.params
        u_th = p.threshold + p.threshold_slope * (p.eta_ref - eta)
        return min(max(u_th, p.threshold_min), p.threshold_max)

    def transmit(
        self, rows: np.ndarray, rng: np.random.Generator | None, state: DeviceState | None = None
    ) -> np.ndarray:
        if state is None:
            raise TypeError("uhlm_adaptive decides with the device's state (uses_state)")
        t = self.trace
        counts = None if t.u_count is None else t.u_count[rows]
        return ~at_or_below(t.uncertainty[rows], counts, t.u_draws, self.threshold_at(state.eta))
