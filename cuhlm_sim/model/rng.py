"""Independent, reproducible random streams per component and device.

numpy's ``SeedSequence`` spawn keys give every (component, device) pair its own stream, so
adding a device or a new random draw in one component leaves every other stream unchanged.
One draw per device at set-up (trace offset, start time) comes instead from one stream per
component drawn in device order: numpy fills arrays element by element, so device i gets the
same value whatever the device count, at a fraction of the cost of a Generator per device.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    TRACE_OFFSET = 1
    POLICY = 2
    THINK = 3
    CHANNEL = 4
    TRACE_SYNTH = 5
    START = 6
    IMPORTANCE = 7
    DROP = 8
    SHADOWING = 9
    FADING = 10
    MOBILITY = 11


def stream(seed: int, kind: Stream, index: int = 0) -> np.random.Generator:
    """The generator of component ``kind`` for device (or item) ``index``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(kind), index)))
