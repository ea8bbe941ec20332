"""Window.overlap, the in-window share of a busy period, against interval arithmetic done
with exact fractions (the fast path for periods wholly inside must give the same float)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from cuhlm_sim.metrics.window import Window


def _exact(w: Window, a: float, b: float) -> Fraction:
    lo = max(Fraction(a), Fraction(w.start))
    hi = min(Fraction(b), Fraction(w.end))
    return max(Fraction(0), hi - lo)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (2.0, 3.0, 1.0),  # inside
        (1.0, 3.0, 1.0),  # starts before the window
        (2.0, 6.0, 3.0),  # ends after it
        (0.0, 9.0, 3.0),  # covers it
        (0.0, 1.0, 0.0),  # before
        (6.0, 7.0, 0.0),  # after
        (2.0, 2.0, 0.0),  # empty
        (3.0, 2.0, 0.0),  # reversed
        (2.0, 5.0, 3.0),  # both edges in
    ],
)
def test_overlap_by_hand(a, b, want):
    got = Window(2.0, 5.0).overlap(a, b)
    assert got == want and not np.signbit(got)


def test_overlap_is_the_float_of_the_exact_interval():
    rng = np.random.default_rng(7)
    w = Window(10.0 / 3.0, 20.0 / 3.0)
    pts = np.concatenate([rng.uniform(0, 10, 4000), [w.start, w.end]])
    for a, b in rng.choice(pts, size=(4000, 2)):
        got = w.overlap(float(a), float(b))
        exact = _exact(w, float(a), float(b))
        # one rounding of the exact difference of the clipped edges (what b - a computes)
        assert got == float(exact), (a, b)
