"""Independent, reproducible random streams, one per (component, device).

Why: common random numbers. A sweep over ``devices.count`` (or any other axis) must compare
like with like, so device i has to see the same drop position, LOS state, shadowing, fading,
waypoints, trace offset, start time, policy coin flips and think times whatever the number of
devices. A stream shared by all devices breaks this as soon as it is drawn in blocks: with
"all LOS uniforms, then all shadowing normals", device 0's shadowing is draw ``num_devices``
of the stream, so it changed with the device count (issue 11, defect 5).

How: the generator of (component, device) is

    ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(component, device)))``

got through :func:`stream` (or :func:`device_streams` for all devices at once), and nothing
else creates per-device generators. ``SeedSequence`` hashes the root seed and the key into
the generator state, so streams are statistically independent and adding a device, a
component or a draw in one component leaves every other stream unchanged. Components are the
:class:`Stream` ids (the first spawn-key entry); their numbers are part of the seed → result
mapping, so never renumber them, only append.

Cost: creating a generator takes ~10–25 µs, fine at set-up but not per event. Hence:

- Per-device generators that are drawn repeatedly (fading blocks, waypoints, policy, think
  times) are created once per device, the device ones on first use.
- One value per device at set-up (trace offset, start time) comes instead from the single
  stream ``stream(seed, component)`` in one vectorised call of size ``num_devices``, nothing
  else drawn from it: numpy fills an array element by element from the front, so element i
  depends only on the seed and i, and device i gets the same value for every device count
  (tests/validation/test_common_random_numbers.py checks it). This saves a generator per
  device per component (~0.2 s each at 10 000 devices). A component used this way must never
  get a second draw: that would be the block pattern above again; give it per-device streams
  instead.
- Components with no device (the synthetic-trace reconstruction of ``u_accept``, the GPU
  server's batch-time factors, the prompts a run replays) use the stream of item 0. The uplink
  draws no random numbers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Component ids: the first spawn-key entry of a stream (append only, never renumber)."""

    TRACE_OFFSET = 1  # one vectorised draw: each device's first trace sequence
    POLICY = 2  # per device: random_skip coin flips
    THINK = 3  # per device: think times (closed loop), arrival gaps (open loop)
    CHANNEL = 4  # per device: SNR of the per_device channel model
    TRACE_SYNTH = 5  # no device: u_accept reconstructed when a trace file lacks it
    START = 6  # one vectorised draw: each device's start time
    IMPORTANCE = 7  # per trace row (policies/ihlm.py): synthetic importance
    DROP = 8  # per device: drop position in the cell
    SHADOWING = 9  # per device: LOS uniform, then shadowing normal
    FADING = 10  # per device: block-fading gains
    MOBILITY = 11  # per device: random-waypoint waypoints and speeds
    SLM_TIME = 12  # per device: lognormal drafting-time factors
    GPU_TIME = 13  # no device (the server): lognormal batch-time factors
    PROMPTS = 14  # no device: the prompts a run replays (trace.resample_prompts)


def stream(seed: int, component: Stream, device: int = 0) -> np.random.Generator:
    """The generator of ``component`` for ``device`` (or item; 0 for a component with one
    stream): the one way a per-device stream is made (module docstring)."""
    key = (int(component), int(device))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def device_streams(seed: int, component: Stream, num_devices: int) -> list[np.random.Generator]:
    """``stream(seed, component, d)`` for every device d: element d never depends on
    ``num_devices``."""
    return [stream(seed, component, d) for d in range(num_devices)]
