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


def _one_sequence_slm_only(path, duration_s: float) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 1,
            "warmup_s": 0.0,
            "duration_s": duration_s,
            "devices": {
                "count": 1,
                "slm_latency_s": 0.07,
                "slm_latency_dist": "fixed",
                "think_time_s": 0.0,
            },
            "policy": {"kind": "slm_only"},
            "trace": {"path": str(path)},
        }
    )


@pytest.fixture(scope="module")
def one_sequence_3000(tmp_path_factory):
    """A synthetic trace of 3,000 rows as one sequence (a request = three blocks)."""
    import pyarrow as pa

    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    table, meta = synth_table(SynthParams(num_rows=3000), 0)
    n = len(table)
    table = table.set_column(table.schema.get_field_index("seq_id"), "seq_id", pa.array(["a"] * n))
    pos = pa.array(range(n), type=table.schema.field("pos").type)
    table = table.set_column(table.schema.get_field_index("pos"), "pos", pos)
    path = tmp_path_factory.mktemp("one") / "one.parquet"
    write_trace(table, path, meta)
    return path


@pytest.mark.parametrize("k", [2, 6, 7, 9])
def test_a_request_counts_exactly_when_its_last_token_does(one_sequence_3000, k):
    """Requests of 3,000 skipped tokens (three blocks) back to back, τ = 0.07 s; the window
    ends at k·210 s, where the k-th request's last token commits up to float rounding (at
    6·210 = 1260 it commits at 1260.0000000000002). The summary counts a request iff its last
    token is in the window by the token log's own rule (ending the request at now + pending,
    one ulp off the run's commit expression, counted one too many for k = 6 to 9)."""
    out = run_scenario(_one_sequence_slm_only(one_sequence_3000, float(k * 210)), log_tokens=True)
    log = pd.DataFrame(out.result.recorder.token_log()).sort_values("t_start_s")
    last = log.iloc[2999::3000]  # every request's last token, in order
    assert out.summary["requests_completed"] == int(last["in_window"].sum())
    assert out.summary["requests_completed"] in (k - 1, k)


def test_a_request_of_many_skip_only_blocks_needs_no_deep_stack(tiny_one_sequence, monkeypatch):
    """With 4-row blocks a 2,000-token SLM-only request is 500 blocks passed at one instant
    (the recursion it used to be needed ~1,500 frames, past Python's limit)."""
    import cuhlm_sim.model.devices as devices

    monkeypatch.setattr(devices, "BLOCK_ROWS", 4)
    s = run_scenario(_one_sequence_slm_only(tiny_one_sequence, 300.0)).summary
    assert s["requests_completed"] == 2  # ends at 140 and 280 s
    assert s["tokens_generated"] == int(300.0 // 0.07)  # commits at 0.07 i <= 300
