"""The shared uplink: a fluid equal-share link, or a slotted resource-block scheduler.

``UPLINKS`` maps the ``uplink.scheduler`` kind to its implementation.
"""

from cuhlm_sim.model.registry import Registry
from cuhlm_sim.model.uplink.fluid import (
    EqualShareUplink,
    FullPowerShareUplink,
    shannon_spectral_efficiency,
)
from cuhlm_sim.model.uplink.slotted import (
    MaxRateScheduler,
    ProportionalFairScheduler,
    RoundRobinScheduler,
    SlotScheduler,
    SlottedUplink,
)

SCHEDULERS: Registry[SlotScheduler] = Registry("uplink scheduler")
SCHEDULERS.add("round_robin", RoundRobinScheduler)
SCHEDULERS.add("proportional_fair", ProportionalFairScheduler)
SCHEDULERS.add("max_rate", MaxRateScheduler)

__all__ = [
    "SCHEDULERS",
    "EqualShareUplink",
    "FullPowerShareUplink",
    "SlottedUplink",
    "shannon_spectral_efficiency",
]
