"""README's "Adding a policy" example works as written: one small class and a registry line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cuhlm_sim.config.build import build_params
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.metrics.compute import summarize
from cuhlm_sim.model.policies import POLICIES
from cuhlm_sim.model.policies.base import Policy
from cuhlm_sim.runner import simulate
from cuhlm_sim.traces.synth import SynthParams, synth_arrays


class EntropyPolicy(Policy):
    """Skip when the draft entropy is low (FedHLM-style signal)."""

    def transmit(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.trace.entropy[rows] > self.params.threshold


@pytest.fixture
def entropy_policy():
    POLICIES.add("entropy", EntropyPolicy)
    yield
    del POLICIES._entries["entropy"]


def test_custom_policy_runs_and_matches_its_rule(entropy_policy):
    trace = synth_arrays(SynthParams(num_rows=5000), seed=2)
    scn = Scenario.model_validate(
        {
            "duration_s": 100.0,
            "devices": {"count": 20},
            "uplink": {"bandwidth_hz": 1e9},
            "server": {"max_batch": 32},
            "policy": {"kind": "uhlm", "threshold": 0.5},
            "trace": {"path": None},
        }
    )
    params = build_params(scn, trace)
    # The schema only accepts registered kinds it knows; a plug-in under test swaps it in.
    params = dataclasses.replace(params, policy=dataclasses.replace(params.policy, kind="entropy"))
    s = summarize(simulate(params, trace))
    expected = float(np.mean(trace.entropy <= 0.5))
    assert s["skip_rate"] == pytest.approx(expected, abs=0.02)
