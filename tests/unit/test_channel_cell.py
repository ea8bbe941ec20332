"""CellChannel: the composed SNR against a hand-computed link budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.model.channel import (
    BlockFading,
    CellChannel,
    LargeScaleLoss,
    RandomWaypoint,
    StaticMobility,
    drop_annulus,
)
from cuhlm_sim.model.rng import Stream, device_streams, stream


def _log_distance(n: int) -> LargeScaleLoss:
    return LargeScaleLoss(
        device_streams(0, Stream.SHADOWING, n), "log_distance", exponent=3.0, shadowing=False
    )


def test_static_no_fading_snr_by_hand():
    # PL(100 m) = 43.3291 + 30 · 2 = 103.3291 dB; N = −174 + 70 + 9 = −95 dBm
    # SNR = 23 − 103.3291 − (−95) = 14.6709 dB
    cell = CellChannel(
        StaticMobility(np.array([[100.0, 0.0]])), _log_distance(1), None, 23.0, 9.0, 10e6
    )
    assert cell.snr_db(0.0)[0] == pytest.approx(14.6709, abs=1e-3)
    assert cell.snr_db(50.0)[0] == pytest.approx(14.6709, abs=1e-3)
    assert cell.next_change_at(1.0) == math.inf


def test_fading_adds_its_gain_in_db():
    rngs = [stream(1, Stream.CHANNEL, d) for d in range(3)]
    fading = BlockFading(rngs, 0.01)
    pos = np.array([[100.0, 0.0], [0.0, 200.0], [-300.0, 0.0]])
    cell = CellChannel(StaticMobility(pos), _log_distance(3), fading, 23.0, 9.0, 10e6)
    mean = cell.mean_snr_db(0.123).copy()
    twin = BlockFading([stream(1, Stream.CHANNEL, d) for d in range(3)], 0.01)
    np.testing.assert_allclose(cell.snr_db(0.123) - mean, twin.gains_db(0.123))
    assert cell.next_change_at(0.123) == pytest.approx(0.13)


def test_mean_snr_follows_mobility_updates():
    n = 20
    pos = drop_annulus(stream(2, Stream.CHANNEL), n, 35.0, 500.0)
    rwp = RandomWaypoint(
        [stream(2, Stream.CHANNEL, d) for d in range(n)], pos, 500.0, 35.0, 5.0, 10.0, 0.0, 0.5
    )
    cell = CellChannel(rwp, _log_distance(n), None, 23.0, 9.0, 10e6)
    a = cell.mean_snr_db(0.1)
    assert cell.mean_snr_db(0.4) is a  # same update instant: no recomputation
    b = cell.mean_snr_db(0.6)
    assert not np.array_equal(a, b)
    assert cell.next_change_at(0.6) == pytest.approx(1.0)
