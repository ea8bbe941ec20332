"""Capacity in requests: an SLO on a request metric, and ``capacity_requests_per_s``, against a
cell whose request latency and throughput are known by hand.

LLM-only devices, one GPU verifying one token at a time in s = 10 ms, no downlink: the N
devices take turns (FIFO), so device k (0-based) commits its j-th token at (k + 1)·s + j·N·s.
A request of 10 tokens therefore takes 10·N·s after the first one (which the 5 s warm-up
drops): 0.1·N seconds. SLO mean request latency <= 0.75 s: N = 7 passes (0.7), 8 fails (0.8).
At N = 7, request r of device k ends at (k + 1)·0.01 + 0.63 + 0.7·r; inside [5, 15] that is
r = 7..20 for every k: 14 × 7 = 98 requests in 10 s, 9.8 requests/s.
"""

from __future__ import annotations

import json

import pytest
import yaml

from cuhlm_sim.cli import app
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.experiments.capacity import find_capacity, parse_slo
from cuhlm_sim.experiments.results import flatten_summary
from cuhlm_sim.runner import run_scenario

TURNS = {
    "seed": 1,
    "warmup_s": 5.0,
    "duration_s": 10.0,
    "devices": {
        "count": 1,
        "slm_latency_s": 0.05,
        "slm_latency_dist": "fixed",
        "tokens_per_request": 10,
    },
    "server": {"max_batch": 1, "llm_latency_s": 0.01, "llm_latency_dist": "fixed"},
    "downlink": {"latency_s": 0.0},
    "policy": {"kind": "llm_only"},
    "trace": {"path": None, "synth_rows": 1000},
}


def test_request_slo_capacity_and_its_request_rate():
    base = Scenario.model_validate(TURNS)
    slos = [parse_slo("mean_request_latency_s<=0.75"), parse_slo("request_throughput_per_s>=1")]
    (entry,) = find_capacity(base, slos, repetitions=2)
    assert (entry.capacity, entry.upper) == (7, 8)
    assert entry.capacity_requests_per_s == pytest.approx(9.8, rel=1e-12)
    at = {e["devices"]: e for e in entry.evaluations}
    assert at[7]["metrics"]["mean_request_latency_s"]["mean"] == pytest.approx(0.7, rel=1e-9)
    assert at[8]["metrics"]["mean_request_latency_s"]["mean"] == pytest.approx(0.8, rel=1e-9)
    assert entry.to_json()["capacity_requests_per_s"] == entry.capacity_requests_per_s


def test_capacity_zero_has_no_request_rate():
    base = Scenario.model_validate(TURNS)
    (entry,) = find_capacity(base, [parse_slo("p95_request_latency_s<=0.05")], repetitions=1)
    assert entry.capacity == 0 and entry.capacity_requests_per_s is None


def test_every_numeric_summary_key_takes_an_slo():
    """Each scalar of summary.json, nested ones as name.sub, parses as an SLO metric."""
    summary = run_scenario(Scenario.model_validate(TURNS)).summary
    for key in flatten_summary(summary):
        assert parse_slo(f"{key}<=1e9").metric == key
    assert {"p95_request_latency_s", "p95_tpot_s", "request_throughput_per_s"} <= set(
        flatten_summary(summary)
    )


def test_a_non_numeric_key_is_refused_before_the_search():
    base = Scenario.model_validate(TURNS)
    with pytest.raises(CuhlmError, match="'window_s' is not a numeric metric"):
        find_capacity(base, [parse_slo("window_s>=1")], repetitions=1)


def test_steady_state_is_a_share_of_runs_in_sweep_tables():
    """A flag flattens to 1.0 / 0.0 (a point's mean = the share of its runs in steady state)."""
    flat = flatten_summary({"steady_state": True, "x": 2, "y": None})
    assert flat["steady_state"] == 1.0 and flat["x"] == 2.0
    assert flatten_summary({"steady_state": False})["steady_state"] == 0.0


def test_cli_capacity_json_has_capacity_in_requests(tmp_path, cli_runner):
    scn = tmp_path / "turns.yaml"
    scn.write_text(yaml.safe_dump(TURNS), encoding="utf-8")
    out = tmp_path / "cap"
    args = ["capacity", str(scn), "--slo", "p95_request_latency_s<=0.75", "--reps", "1"]
    res = cli_runner.invoke(app, [*args, "--workers", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    (entry,) = json.loads((out / "capacity.json").read_text(encoding="utf-8"))["entries"]
    assert (entry["capacity"], entry["capacity_requests_per_s"]) == (7, pytest.approx(9.8))
    bad = cli_runner.invoke(app, ["capacity", str(scn), "--slo", "p95_request_latency<=30"])
    assert bad.exit_code == 2 and "unknown metric 'p95_request_latency'" in bad.stderr


def test_an_absurd_number_of_repetitions_is_refused_at_once():
    base = Scenario.model_validate(TURNS)
    with pytest.raises(CuhlmError, match=r"--reps: at most 10,000 repetitions"):
        find_capacity(base, [parse_slo("p95_request_latency_s<=1")], repetitions=10**20)


def test_a_sweep_file_with_absurd_repetitions_is_one_line(tmp_path, cli_runner):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(TURNS), encoding="utf-8")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump({"scenario": "s.yaml", "repetitions": 10**9}),
        encoding="utf-8",
    )
    res = cli_runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "repetitions" in lines[0] and str(sweep) in lines[0]
    assert not (tmp_path / "o").exists()
