"""The shared uplink: a fluid equal-share link, or a slotted resource-block scheduler.

``UPLINKS`` maps the ``uplink.scheduler`` kind to the factory of its uplink; importing the two
modules below is what registers them.
"""

from cuhlm_sim.model.uplink.base import UPLINKS, Radio, Uplink
from cuhlm_sim.model.uplink.fluid import (
    EqualShareUplink,
    FullPowerShareUplink,
    shannon_spectral_efficiency,
)
from cuhlm_sim.model.uplink.slotted import SlottedUplink

__all__ = [
    "UPLINKS",
    "EqualShareUplink",
    "FullPowerShareUplink",
    "Radio",
    "SlottedUplink",
    "Uplink",
    "shannon_spectral_efficiency",
]
