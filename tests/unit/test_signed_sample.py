"""SignedSample: values booked and taken back (the jittered skip latencies)."""

from __future__ import annotations

import numpy as np
import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.metrics.sample import SignedSample
from cuhlm_sim.runner import run_scenario


def test_net_values_are_exact_before_a_fold():
    s = SignedSample()
    s.book(np.array([0.1, 0.2, 0.3, 0.3]), 1)
    s.book(np.array([0.3, 0.1]), -1)
    values, weights = s.weighted()
    assert values.tolist() == [0.2, 0.3] and weights.tolist() == [1.0, 1.0]
    assert s.total() == pytest.approx(0.5, abs=1e-15)


def test_the_total_stays_exact_after_a_fold():
    """Folded values stand for bin centres; the total must not (fast and exact paths fold at
    different times, so a binned total would differ between them)."""
    rng = np.random.default_rng(0)
    x = rng.lognormal(-3, 0.5, 1000)
    s = SignedSample(exact_limit=16)
    s.book(x, 1)
    s.book(x[:300], -1)
    assert not s.added.exact
    assert s.total() == pytest.approx(float(x[300:].sum()), rel=1e-12)
    assert s.weighted()[1].sum() == 700


def test_open_loop_jittered_skips_go_to_the_bounded_sample():
    """Open-loop tokens with lognormal times: no per-value entry in the constant-τ counts."""
    scn = Scenario.model_validate(
        {
            "duration_s": 20.0,
            "warmup_s": 0.0,
            "devices": {"count": 2, "arrival": "poisson", "arrival_rate_per_s": 20.0},
            "policy": {"kind": "uhlm", "threshold": 0.3},
            "trace": {"path": None},
        }
    )
    rec = run_scenario(scn).result.recorder
    assert rec.skip_latency == {}
    assert len(rec.skip_latency_jittered.added) > 100
