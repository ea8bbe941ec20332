"""Common random numbers: device i sees the same random draws whatever ``devices.count`` is.

Every per-device draw (drop position, LOS, shadowing, fading, mobility, trace offset, start
time, policy decisions, think times) comes from its own (component, device) stream, so a
sweep over the device count compares like with like. Each quantity is read back from the
run's own files with pandas (``devices.parquet``, ``tokens.parquet``) or from the channel
model, and the expected value is simply the one of the smallest run: equality across counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cuhlm_sim.cli import app
from cuhlm_sim.config import load_scenario
from cuhlm_sim.config.build import section_params
from cuhlm_sim.model.channel_state import build_channel
from cuhlm_sim.traces.io import write_trace
from cuhlm_sim.traces.synth import SynthParams, synth_table

DENSE_CELL = Path(__file__).resolve().parents[2] / "scenarios" / "dense_cell.yaml"
COUNTS = (3, 4, 5, 50)
KEEP = 3  # devices compared: 0, 1, 2


def _run(cli_runner, scenario: Path, out: Path, *options: str) -> Path:
    result = cli_runner.invoke(app, ["run", str(scenario), "--out", str(out), "--quiet", *options])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param((), id="dense_cell"),
        pytest.param(("channel.fading=none", "channel.mobility=static"), id="los_shadowing_only"),
        pytest.param(
            ("channel.model=per_device", "channel.spread=normal", "channel.spread_db=6"),
            id="per_device_spread",
        ),
    ],
)
def test_pathloss_snr_of_devices_0_to_2_is_the_same_for_any_count(cli_runner, tmp_path, extra):
    """The issue's check: dense_cell (UMa LOS + shadowing, Rayleigh fading, random waypoint),
    shortened; ``snr_db`` of devices 0–2 in devices.parquet is identical for 3, 4, 5, 50."""
    snr = {}
    for n in COUNTS:
        sets = [f"devices.count={n}", "duration_s=1.0", "warmup_s=0.5", *extra]
        out = _run(
            cli_runner, DENSE_CELL, tmp_path / f"n{n}", *(x for s in sets for x in ("--set", s))
        )
        table = pd.read_parquet(out / "devices.parquet").sort_values("device")
        assert len(table) == n
        snr[n] = table["snr_db"].to_numpy()[:KEEP]
    for n in COUNTS[1:]:
        np.testing.assert_array_equal(snr[n], snr[COUNTS[0]], err_msg=f"{n} devices")


def test_channel_snr_over_time_of_devices_0_to_2_is_the_same_for_any_count():
    """Fading blocks and mobility legs: the SNR time series of a device does not depend on how
    many other devices exist (each device's fading and waypoints come from its own stream)."""
    channel = section_params(load_scenario(DENSE_CELL).channel)
    # 1600 fading blocks (past the first 1024-block chunk a device draws at once), 80 mobility
    # updates
    times = np.arange(0.0, 80.0, 0.025)
    series = {}
    for n in COUNTS:
        cell = build_channel(channel, n, 20e6, seed=0)
        series[n] = np.stack([cell.snr_db(t)[:KEEP].copy() for t in times])  # [times, KEEP]
    assert np.ptp(series[3], axis=0).min() > 3.0  # it does fade and move
    for n in COUNTS[1:]:
        np.testing.assert_array_equal(series[n], series[COUNTS[0]], err_msg=f"{n} devices")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


TOKENS_PER_REQUEST = 16


@pytest.fixture(scope="module")
def token_logs(tmp_path_factory) -> dict[int, pd.DataFrame]:
    """tokens.parquet of a random_skip run with exponential think times and spread start
    times, for every device count; warm-up 0 so every token is logged."""
    tmp = tmp_path_factory.mktemp("crn")
    trace = tmp / "trace.parquet"
    table, meta = synth_table(SynthParams(num_rows=2000), 0)
    write_trace(table, trace, meta)
    data = {
        "name": "crn",
        "seed": 0,
        "duration_s": 4.0,
        "warmup_s": 0.0,
        "devices": {
            "slm_latency_s": 0.01,
            "tokens_per_request": TOKENS_PER_REQUEST,
            "think_time_s": 0.05,
            "think_time_dist": "exponential",
            "start_spread_s": 0.5,
        },
        # a wide uplink and a fast server: 50 devices still get far enough to compare
        "uplink": {"bandwidth_hz": 10e9},
        "server": {"llm_latency_s": 0.02, "gpus": 8, "max_batch": 16},
        "downlink": {"latency_s": 0.001},
        "policy": {"kind": "random_skip", "skip_probability": 0.5},
        "trace": {"path": str(trace)},
    }
    runner = CliRunner()
    logs = {}
    for n in COUNTS:
        scenario = tmp / f"n{n}.yaml"
        scenario.write_text(
            yaml.safe_dump(_merge(data, {"devices": {"count": n}}), sort_keys=False),
            encoding="utf-8",
        )
        out = _run(runner, scenario, tmp / f"out{n}", "--log-tokens")
        logs[n] = pd.read_parquet(out / "tokens.parquet")
    return logs


def _device(log: pd.DataFrame, d: int) -> pd.DataFrame:
    """Device d's tokens in drafting order."""
    return log[log["device"] == d].sort_values("t_start_s", kind="stable").reset_index(drop=True)


def test_trace_offset_and_start_time_are_the_same_for_any_count(token_logs):
    """A device's first token is the first row of its first sequence (its offset), drafted at
    its start time."""
    first = {
        n: [_device(log, d).iloc[0][["trace_row", "t_start_s"]].tolist() for d in range(KEEP)]
        for n, log in token_logs.items()
    }
    table, _ = synth_table(SynthParams(num_rows=2000), 0)
    starts = set(table.to_pandas().reset_index(drop=True).query("pos == 0").index)
    assert all(row in starts for row, _ in first[3])  # a request starts a sequence
    assert all(0 < t < 0.5 for _, t in first[3])  # spread start times
    for n in COUNTS[1:]:
        assert first[n] == first[COUNTS[0]], f"{n} devices"


def test_random_skip_decisions_of_device_0_are_the_same_for_any_count(token_logs):
    """The sent / skipped sequence of device 0 (common prefix: contention changes how far it
    gets, not what it decides)."""
    seqs = {n: _device(log, 0)["sent"].to_numpy() for n, log in token_logs.items()}
    m = min(s.size for s in seqs.values())
    assert m >= 100
    assert 0.3 < seqs[3][:m].mean() < 0.7
    for n in COUNTS[1:]:
        np.testing.assert_array_equal(seqs[n][:m], seqs[COUNTS[0]][:m], err_msg=f"{n} devices")


def _think_times(log: pd.DataFrame, d: int) -> np.ndarray:
    """Gaps between a request's last commit and the next request's first draft [s]."""
    tok = _device(log, d)
    req = np.arange(len(tok)) // TOKENS_PER_REQUEST
    done = tok.groupby(req)["t_commit_s"].max().to_numpy()
    begin = tok.groupby(req)["t_start_s"].min().to_numpy()
    return begin[1:] - done[:-1]


def test_think_times_of_device_0_are_the_same_for_any_count(token_logs):
    gaps = {n: _think_times(log, 0) for n, log in token_logs.items()}
    m = min(g.size for g in gaps.values())
    assert m >= 3
    assert np.all(gaps[3][:m] > 0)
    for n in COUNTS[1:]:
        np.testing.assert_allclose(gaps[n][:m], gaps[COUNTS[0]][:m], rtol=0, atol=1e-9)
