"""Event-count bounds per token on the bench cases (issue 16), scaled to 100 devices.

A guard against speed regressions that does not time anything: SimPy events are deterministic
for a seed. A transmitted token needs its draft's completion and its uplink transfer as events;
GPU batch ends and commits are shared by a batch (that skipped tokens add none is
test_closed_forms.py::test_skipped_runs_cost_no_events). Measured when
written (events per transmitted token): 3.04 / 3.01 unbatched (the GPU end and the downlink
commit are separate events at batch size 1), 2.37 batched with jitter, 3.60 in the scaled
default scenario (its slow uplink re-arms the transfer timer as payloads join); the bounds
leave ~10 %.
"""

from __future__ import annotations

import dataclasses

import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.experiments import bench
from cuhlm_sim.runner import run_scenario

BOUNDS = {  # case -> most events per transmitted token
    "uhlm_1k_unbatched_real": 3.35,
    "hlm_1k_unbatched_real": 3.35,
    "uhlm_1k_batched_jitter_real": 2.6,
    "hlm_1k_batched_jitter_real": 2.6,
    "default_1k": 3.95,
}


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_events_per_transmitted_token_stay_bounded(name):
    case = next(c for c in bench.CASES if c.name == name)
    case = dataclasses.replace(
        case, devices=100, tokens_per_device=min(case.tokens_per_device, 200)
    )
    scn, trace, _ = bench._load_case(case)
    if case.scale_default:
        scn = Scenario.model_validate({**scn.model_dump(), "duration_s": 60.0, "warmup_s": 10.0})
    s = run_scenario(scn, trace=trace, count_events=True).summary
    sent = s["tokens_generated"] * s["transmission_rate"]
    assert sent > 1000
    assert s["simpy_events"] / sent <= BOUNDS[name]
