"""``cuhlm run`` warns in one stderr line when the run reached no steady state, and still writes
its results."""

from __future__ import annotations

import json

from cuhlm_sim.cli import app
from cuhlm_sim.cli.scenario import steady_state_warning


def test_one_warning_line_when_not_steady(cli_runner, write_scenario, tmp_path):
    """The base test scenario (5 s, 32-token requests at ~0.03 s a token, 3 devices) ends
    far fewer than 30 requests in its window."""
    out = tmp_path / "res"
    res = cli_runner.invoke(app, ["run", str(write_scenario()), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["steady_state"] is False
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    done = summary["requests_completed"]
    assert lines[0].startswith(f"warning: no steady state: {done} requests completed")
    assert "at least 10 needed" in lines[0]


def test_no_warning_when_steady(cli_runner, write_scenario, tmp_path):
    """SLM-only, τ = 0.01 s, 10 tokens a request: 10 requests a second per device, 40 in the
    4 s window each (>= 10), and no verified token, so no transient to find."""
    path = write_scenario(
        policy={"kind": "slm_only"},
        devices={"count": 3, "slm_latency_s": 0.01, "tokens_per_request": 10},
        duration_s=4.0,
    )
    out = tmp_path / "res"
    res = cli_runner.invoke(app, ["run", str(path), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["steady_state"]
    assert res.stderr == ""


def test_warning_names_the_unsettled_series_when_requests_suffice():
    line = steady_state_warning({"steady_state": False, "requests_completed": 500}, devices=5)
    assert line is not None and "MSER-5 found no end of the transient" in line
    assert steady_state_warning({"steady_state": True, "requests_completed": 0}, devices=5) is None


def test_a_wrong_warmup_is_one_error_line(cli_runner, write_scenario):
    for bad in ("soon", "-1"):
        res = cli_runner.invoke(
            app, ["validate", str(write_scenario()), "--set", f"warmup_s={bad}"]
        )
        assert res.exit_code == 2, res.output
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and "warmup_s" in lines[0] and "'auto'" in lines[0], res.stderr
