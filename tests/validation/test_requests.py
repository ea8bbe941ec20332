"""Requests replay whole trace sequences; closed and open (Poisson) request arrivals.

Expected values come from the trace file read with pandas (sequence boundaries, lengths) and
from closed forms (a device with fixed drafting times and no LLM is a deterministic server;
with Poisson requests it is an M/G/1 queue: Pollaczek-Khinchine).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.runner import run_scenario
from tests.conftest import REAL_TRACE

TAU = 0.01


@pytest.fixture(scope="module")
def seqs() -> pd.DataFrame:
    """Each sequence of the trace: first row and length, in file order."""
    raw = pd.read_parquet(REAL_TRACE, columns=["seq_id", "pos"]).reset_index(drop=True)
    g = raw.reset_index().groupby("seq_id", sort=False)["index"]
    return pd.DataFrame({"start": g.min(), "length": g.size()}).reset_index(drop=True)


def _scenario(**devices) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 2,
            "warmup_s": 0.0,
            "duration_s": 200.0,
            "devices": {
                "count": 2,
                "slm_latency_s": TAU,
                "slm_latency_dist": "fixed",
                "think_time_s": 0.0,
                **devices,
            },
            "policy": {"kind": "slm_only"},
            "trace": {"path": str(REAL_TRACE)},
        }
    )


def test_a_request_replays_one_whole_sequence_then_the_next(seqs):
    """Each device's rows, in drafting order, are whole sequences taken in file order
    (wrapping after the last), starting at a sequence's first row."""
    out = run_scenario(_scenario(), log_tokens=True)
    log = pd.DataFrame(out.result.recorder.token_log())
    starts = seqs["start"].tolist()
    for d in range(2):
        rows = log[log["device"] == d].sort_values("t_start_s")["trace_row"].to_numpy()
        s = starts.index(rows[0])
        expected = []
        while len(expected) < rows.size:
            a, n = seqs.loc[s % len(seqs), ["start", "length"]]
            expected.extend(range(a, a + n))
            s += 1
        np.testing.assert_array_equal(rows, expected[: rows.size])


def test_tokens_per_request_cuts_each_sequence(seqs):
    out = run_scenario(_scenario(tokens_per_request=20), log_tokens=True)
    log = pd.DataFrame(out.result.recorder.token_log())
    rows = log[log["device"] == 0].sort_values("t_start_s")["trace_row"].to_numpy()
    starts = seqs["start"].tolist()
    s = starts.index(rows[0])
    expected = []
    while len(expected) < rows.size:
        a, n = seqs.loc[s % len(seqs), ["start", "length"]]
        expected.extend(range(a, a + min(n, 20)))
        s += 1
    np.testing.assert_array_equal(rows, expected[: rows.size])


def test_closed_loop_requests_complete_at_the_sequence_boundaries(seqs):
    """SLM-only, fixed τ, no think time: device d's k-th request ends at τ·(sum of the first k
    lengths from its first sequence); the latencies and counts follow by hand."""
    scn = _scenario(count=1)
    out = run_scenario(scn, log_tokens=True)
    log = pd.DataFrame(out.result.recorder.token_log())
    first = int(log.sort_values("t_start_s")["trace_row"].iloc[0])
    s0 = seqs["start"].tolist().index(first)
    lengths = np.roll(seqs["length"].to_numpy(), -s0)
    lengths = np.tile(lengths, 10)
    ends = TAU * np.cumsum(lengths)
    done = ends <= scn.duration_s
    lat = TAU * lengths[done]
    s = out.summary
    assert s["requests_completed"] == int(done.sum())
    assert s["mean_request_latency_s"] == pytest.approx(lat.mean(), rel=1e-9)


def test_poisson_requests_queue_at_the_device_like_mg1(seqs):
    """Open loop: requests arrive at rate λ per device and queue FIFO at the device; with
    SLM-only and fixed τ each device is an M/G/1 queue whose service time is τ·L, L a sequence
    length. Pollaczek-Khinchine: W = E[S] + λE[S²] / (2(1 − ρ)). 40 devices × 4,000 s; the
    service order cycles through the sequences instead of drawing them independently, which
    shifts W by much less than the 6 % allowed (the statistical error alone is ~2 %)."""
    L = seqs["length"].to_numpy(np.float64)
    es, es2 = TAU * L.mean(), TAU**2 * (L**2).mean()
    lam = 0.5 / es  # rho = 0.5
    scn = Scenario.model_validate(
        {
            **_scenario().model_dump(),
            "warmup_s": 100.0,
            "duration_s": 4000.0,
            "devices": {
                **_scenario().model_dump()["devices"],
                "count": 40,
                "arrival": "poisson_requests",
                "request_rate_per_s": lam,
            },
        }
    )
    s = run_scenario(scn).summary
    w = es + lam * es2 / (2 * (1 - lam * es))
    assert s["mean_request_latency_s"] == pytest.approx(w, rel=0.06)
    assert s["requests_completed"] / scn.duration_s == pytest.approx(40 * lam, rel=0.03)
