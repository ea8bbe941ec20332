r"""Small-scale block fading: a power gain :math:`|h|^2` per device, constant over a coherence
time and redrawn independently in the next block.

Gains are linear power gains with :math:`E|h|^2 = 1`, so they multiply the SNR (add
:math:`10\log_{10}|h|^2` dB) without changing its mean. :class:`BlockFading` draws a chunk of many
coherence blocks per device at once from that device's own generator, so block b of device d
is the same number for a given seed whatever the order or spacing of the queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from cuhlm_sim.model.channel.pathloss import SPEED_OF_LIGHT_MPS

FadingKind = Literal["none", "rayleigh", "rician"]

#: Coherence time constant: T_c = 0.423 / f_m, the geometric mean of 9/(16 pi f_m) and
#: 1/f_m (Rappaport, *Wireless Communications*, 2nd ed., eq. (5.40c)).
COHERENCE_CONSTANT = 0.423


def next_grid_time_s(index: np.ndarray, step_s: np.ndarray) -> np.ndarray:
    """Smallest t with floor(t / step) = index + 1, i.e. (index + 1) step nudged up by a few ulps
    when rounding would put it back in block ``index`` (else an event loop stepping to it would
    never advance)."""
    idx = np.asarray(index, dtype=np.float64)
    step = np.asarray(step_s, dtype=np.float64)
    nxt = (idx + 1.0) * step
    for _ in range(64):
        low = np.floor(nxt / step) <= idx
        if not np.any(low):
            break
        nxt = np.where(low, np.nextafter(nxt, np.inf), nxt)
    return nxt


def doppler_hz(speed_mps: np.ndarray | float, carrier_ghz: float) -> np.ndarray:
    """Maximum Doppler shift f_m = v f_c / c [Hz] (Rappaport eq. (5.2), cos θ = 1)."""
    return np.asarray(speed_mps, dtype=np.float64) * carrier_ghz * 1e9 / SPEED_OF_LIGHT_MPS


def coherence_time_s(speed_mps: np.ndarray | float, carrier_ghz: float) -> np.ndarray:
    r"""Coherence time :math:`T_c = 0.423 / f_m` [s] (Rappaport eq. (5.40c)); inf at v = 0."""
    f_m = doppler_hz(speed_mps, carrier_ghz)
    with np.errstate(divide="ignore"):
        return np.where(f_m > 0.0, COHERENCE_CONSTANT / np.where(f_m > 0.0, f_m, 1.0), np.inf)


def rayleigh_gain(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    r"""Rayleigh power gain :math:`|h|^2 \sim \mathrm{Exp}(1)`, :math:`h \sim \mathcal{CN}(0,1)`
    (Goldsmith, *Wireless Communications*, §3.2.1, unit mean)."""
    return rng.standard_exponential(size)


def rician_gain(
    rng: np.random.Generator, k_factor: float, size: int | tuple[int, ...]
) -> np.ndarray:
    r"""Rician power gain with K factor (linear, LOS power / scattered power) and unit mean.

    .. math::
        h = \sqrt{\tfrac{K}{K+1}} + \sqrt{\tfrac{1}{K+1}}\,\mathcal{CN}(0, 1), \qquad
        2(K+1)\,|h|^2 \sim \chi'^2_2(\lambda = 2K)

    a non-central chi-square with 2 degrees of freedom (Goldsmith §3.2.1; mean
    :math:`(2 + 2K)/(2(K+1)) = 1`). K = 0 is Rayleigh; K = inf is no fading (gain 1).
    The two Gaussian components are drawn directly, which has exactly that distribution.
    """
    _validate("rician", k_factor)
    if np.isinf(k_factor):
        return np.ones(size, dtype=np.float64)
    shape = (size,) if isinstance(size, int) else tuple(size)
    xy = rng.standard_normal((*shape, 2))  # [..., 2] in-phase, quadrature
    scatter = np.sqrt(1.0 / (2.0 * (k_factor + 1.0)))
    los = np.sqrt(k_factor / (k_factor + 1.0))
    return (los + scatter * xy[..., 0]) ** 2 + (scatter * xy[..., 1]) ** 2


def _validate(kind: str, k_factor: float) -> None:
    """Reject an unknown kind or a negative/NaN K before any draw."""
    if kind not in ("none", "rayleigh", "rician"):
        raise ValueError(f"unknown fading kind {kind!r} (expected 'none', 'rayleigh' or 'rician')")
    if not k_factor >= 0.0:
        raise ValueError(f"Rician K factor must be >= 0 (got {k_factor!r})")


def draw_gain(
    rng: np.random.Generator,
    kind: FadingKind,
    size: int | tuple[int, ...],
    k_factor: float = 0.0,
) -> np.ndarray:
    """Power gains of ``kind``: "none" (all 1), "rayleigh", or "rician" with ``k_factor``."""
    _validate(kind, k_factor)
    if kind == "none":
        return np.ones(size, dtype=np.float64)
    if kind == "rayleigh":
        return rayleigh_gain(rng, size)
    return rician_gain(rng, k_factor, size)


class BlockFading:
    r"""Per-device block fading: the gain of device d at time t is the gain of its block
    :math:`b_d(t) = \lfloor t / T_{c,d} \rfloor`, independent across blocks and devices.

    Parameters
    ----------
    rngs : sequence of numpy.random.Generator [num_devices]
        One generator per device (``device_streams(seed, Stream.FADING, n)``); block b of device
        d is the b-th draw of ``rngs[d]``, so adding a device leaves the others unchanged.
    coherence_s : float or float64 [num_devices]
        Coherence time T_c [s], > 0; inf (static device) keeps block 0 forever.
    kind : {"none", "rayleigh", "rician"}, default "rayleigh"
        Gain distribution (:func:`rayleigh_gain`, :func:`rician_gain`).
    k_factor : float, default 0
        Rician K [linear].
    blocks_per_draw : int, default 1024
        Blocks drawn per device at once; part of the seed → gain mapping (keep it fixed).

    Input
    -----
    t_s : float
        Simulation time [s]; may not go back before the start of a device's current chunk.

    Output
    ------
    float64 [num_devices]
        Linear power gains :math:`|h_d|^2`.
    """

    def __init__(
        self,
        rngs: Sequence[np.random.Generator],
        coherence_s: float | np.ndarray,
        kind: FadingKind = "rayleigh",
        k_factor: float = 0.0,
        blocks_per_draw: int = 1024,
    ) -> None:
        self.rngs = list(rngs)
        n = len(self.rngs)
        # [num_devices]
        self.coherence_s = np.broadcast_to(np.asarray(coherence_s, dtype=np.float64), (n,)).copy()
        if np.any(~(self.coherence_s > 0.0)):
            raise ValueError("coherence time must be > 0 s (inf for a static channel)")
        if blocks_per_draw < 1:
            raise ValueError(f"blocks_per_draw must be >= 1 (got {blocks_per_draw})")
        _validate(kind, k_factor)
        self.kind: FadingKind = kind
        self.k_factor = float(k_factor)
        self.blocks_per_draw = int(blocks_per_draw)
        # [num_devices, blocks_per_draw] gains of each device's current chunk
        self._buf = np.empty((n, self.blocks_per_draw), dtype=np.float64)
        # [num_devices] index of the chunk held in _buf, -1 before the first draw
        self._chunk = np.full(n, -1, dtype=np.int64)
        self._rows = np.arange(n)

    @property
    def num_devices(self) -> int:
        return len(self.rngs)

    def block_index(self, t_s: float) -> np.ndarray:
        """Block b_d(t) = floor(t / T_c,d) of every device, int64 [num_devices]."""
        if t_s < 0.0:
            raise ValueError(f"time must be >= 0 s (got {t_s})")
        return np.floor(t_s / self.coherence_s).astype(np.int64)

    def _load(self, d: int, chunk: int) -> None:
        """Bring chunk ``chunk`` of device d into the buffer, drawing any skipped chunks."""
        if chunk < self._chunk[d]:
            raise ValueError(f"fading of device {d} queried back in time")
        # Skipped chunks are drawn and discarded: block b is always the b-th draw.
        for _ in range(int(chunk - self._chunk[d])):
            self._buf[d] = draw_gain(self.rngs[d], self.kind, self.blocks_per_draw, self.k_factor)
        self._chunk[d] = chunk

    def gains(self, t_s: float) -> np.ndarray:
        """Linear power gains of all devices at time ``t_s``, float64 [num_devices]."""
        block = self.block_index(t_s)  # [num_devices]
        chunk = block // self.blocks_per_draw  # [num_devices]
        stale = np.flatnonzero(chunk != self._chunk)
        if stale.size:
            if np.any(chunk[stale] < self._chunk[stale]):
                raise ValueError(f"fading queried back in time (t = {t_s} s)")
            for d in stale.tolist():
                self._load(d, int(chunk[d]))
        return self._buf[self._rows, block % self.blocks_per_draw]

    def device_gain(self, device: int, t_s: float) -> float:
        """Linear power gain of one device at ``t_s`` (O(1), for per-event use)."""
        if t_s < 0.0:
            raise ValueError(f"time must be >= 0 s (got {t_s})")
        block = int(np.floor(t_s / self.coherence_s[device]))
        chunk = block // self.blocks_per_draw
        if chunk != self._chunk[device]:
            self._load(device, chunk)
        return float(self._buf[device, block % self.blocks_per_draw])

    def next_block_at(self, t_s: float) -> np.ndarray:
        """Start of each device's next block, (b_d(t) + 1) T_c,d [s], float64 [num_devices]
        (inf for a static channel); ``block_index`` there is exactly b_d(t) + 1."""
        static = np.isinf(self.coherence_s)
        step = np.where(static, 1.0, self.coherence_s)  # [num_devices]
        nxt = next_grid_time_s(self.block_index(t_s), step)
        return np.where(static, np.inf, nxt)

    def gains_db(self, t_s: float) -> np.ndarray:
        """Gains in dB, 10 log10 |h|², float64 [num_devices] (-inf for a zero gain)."""
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(self.gains(t_s))
