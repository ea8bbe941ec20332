"""A run too large for the machine is refused before it starts, in one line with the estimate
and the memory available; a long run shows its progress on a terminal and nowhere else.

Expected estimates are worked by hand from the constants of ``cuhlm_sim/memory.py`` (30 kB
per device, 700 B per trace row, 64 MB of samples, 2.6 kB / 0.35 kB per logged verified /
skipped token, 0.85 kB per open-loop draft); a subprocess checks that real runs stay under
their estimate, which is what the constants claim.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from cuhlm_sim.cli import app
from cuhlm_sim.config.schema import Scenario


def _scenario(**sections) -> Scenario:
    data = {
        "duration_s": 5.0,
        "warmup_s": 1.0,
        "devices": {"count": 2, "slm_latency_s": 0.01},
        "server": {"llm_latency_s": 0.02, "batch_per_item_s": 0.01, "max_batch": 4},
        "trace": {"path": None, "synth_rows": 2000},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return Scenario.model_validate(data)


def _estimate(scn: Scenario, log_tokens: bool = False):
    from cuhlm_sim.config.build import build_params, load_scenario_trace
    from cuhlm_sim.memory import estimate_run

    trace = load_scenario_trace(scn)
    return estimate_run(build_params(scn, trace, log_tokens=log_tokens), trace.num_rows)


def test_estimate_of_devices_and_trace_rows():
    est = _estimate(_scenario(devices={"count": 1000}))
    # 64 MB of samples + 1,000 devices x 30 kB + 2,000 rows x 700 B + 5 batch sizes x 48 B
    assert est.parts == {
        "samples": 64e6,
        "devices": 30e6,
        "trace rows": 1.4e6,
        "batch sizes": 240.0,
    }
    assert est.total == 95.40024e6


def test_estimate_of_the_token_log():
    # 2 devices drafting every 10 ms for 6 s: at most 1,200 tokens. One GPU, t(b) = 0.02 +
    # 0.01 (b - 1), b <= 4: b / t(b) = 50, 66.7, 75, 80 per s, so at most 480 verified.
    est = _estimate(_scenario(policy={"kind": "uhlm"}), log_tokens=True)
    assert est.parts["token log"] == pytest.approx(480 * 2600 + 720 * 350)
    hlm = _estimate(_scenario(policy={"kind": "hlm"}), log_tokens=True)
    assert hlm.parts["token log"] == pytest.approx(480 * 2600)  # HLM skips nothing
    slm = _estimate(_scenario(policy={"kind": "slm_only"}), log_tokens=True)
    assert slm.parts["token log"] == pytest.approx(1200 * 350)  # nothing is verified
    assert "token log" not in _estimate(_scenario()).parts


def test_estimate_of_open_loop_queues():
    # 2 devices x 50 drafts/s x 6 s = 600 drafts that may all wait, 850 B each
    scn = _scenario(devices={"arrival": "poisson", "arrival_rate_per_s": 50.0})
    assert _estimate(scn).parts["queued drafts"] == pytest.approx(600 * 850)


@pytest.fixture
def memory_of(monkeypatch):
    """Pretend the machine has ``n`` bytes available."""
    import cuhlm_sim.memory as memory

    def set_available(n: int) -> None:
        monkeypatch.setattr(memory, "available_memory", lambda: n)

    return set_available


def test_ten_million_devices_are_refused_before_anything_is_built(
    cli_runner, write_scenario, tmp_path, memory_of, monkeypatch
):
    import cuhlm_sim.runner as runner

    memory_of(16 * 10**9)
    monkeypatch.setattr(runner, "load_scenario_trace", lambda scn: pytest.fail("trace loaded"))
    out = tmp_path / "o"
    res = cli_runner.invoke(
        app, ["run", str(write_scenario()), "--set", "devices.count=10000000", "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in res.output
    assert "devices.count" in err and "300 GB" in err and "16 GB available" in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        (["--set", "trace.path=null", "--set", "trace.synth_rows=100000000"], "trace.synth_rows"),
        (["--set", "server.max_batch=1000000000"], "server.max_batch"),
        (["--log-tokens", "--set", "duration_s=1e7"], "--log-tokens"),
    ],
)
def test_a_trace_or_token_log_too_large_names_its_key(
    cli_runner, write_scenario, tmp_path, memory_of, override, field
):
    memory_of(4 * 10**9)
    out = tmp_path / "o"
    res = cli_runner.invoke(app, ["run", str(write_scenario()), *override, "--out", str(out)])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {tmp_path}")
    assert f"{field}: this run needs about" in err and "4 GB available" in err, err
    assert not out.exists()


def test_validate_refuses_the_same_and_reports_the_estimate(cli_runner, write_scenario, memory_of):
    scn = write_scenario()
    memory_of(10**9)
    ok = cli_runner.invoke(app, ["validate", str(scn)])
    # 64 MB + 3 devices x 30 kB + 2,000 rows x 700 B = 65.49 MB
    assert ok.exit_code == 0 and "needs about 65.5 MB of memory" in ok.stdout, ok.output
    res = cli_runner.invoke(app, ["validate", str(scn), "--set", "devices.count=100000"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "devices.count: this run needs about" in res.stderr and "1 GB available" in res.stderr


def test_available_memory_without_psutil_reads_the_kernel(monkeypatch):
    import cuhlm_sim.memory as memory

    with_psutil = memory.available_memory()
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now fails
    without = memory.available_memory()
    if not Path("/proc/meminfo").is_file():
        pytest.skip("no /proc/meminfo")
    assert with_psutil and without and 0.5 < without / with_psutil < 2.0


def test_real_runs_stay_under_their_estimate(tmp_path):
    """Peak RSS growth of real runs, in fresh processes, against the estimate: devices (the
    largest per-device cost, Rand-HLM) and the token log (every token verified). Each case
    is large enough that its part dominates: halving DEVICE_BYTES or LOG_SENT_BYTES fails."""
    script = textwrap.dedent(
        """
        import json, sys
        from cuhlm_sim.config.build import build_params, load_scenario_trace
        from cuhlm_sim.config.load import load_scenario
        from cuhlm_sim.memory import estimate_run
        from cuhlm_sim.runner import simulate

        def status(key):  # VmHWM, not ru_maxrss: that one keeps the parent's peak over exec
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))

        scn = load_scenario(sys.argv[1], json.loads(sys.argv[2]))
        log = sys.argv[3] == "log"
        trace = load_scenario_trace(scn)
        params = build_params(scn, trace, log_tokens=log)
        est = estimate_run(params, trace.num_rows)
        before = status("VmRSS")
        res = simulate(params, trace)
        if log:
            res.recorder.token_log()
        grown = status("VmHWM") - before
        print(json.dumps({"grown": grown, "estimate": est.total}))
        """
    )
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc")
    default = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"
    cases = [
        # the shipped default at 20,000 devices, Rand-HLM: ~25 kB per device
        ["devices.count=20000", "policy.kind=random_skip", "duration_s=2", "warmup_s=0"],
        # every token verified and logged: a fast GPU, an uplink that never stalls
        [
            "devices.count=200",
            "devices.slm_latency_s=0.01",
            "devices.think_time_s=0",
            "policy.kind=hlm",
            "server.llm_latency_s=0.001",
            "server.batch_per_item_s=0",
            "server.max_batch=64",
            "uplink.bandwidth_hz=1e12",
            "downlink.latency_s=0",
            "duration_s=5",
            "warmup_s=1",
        ],
    ]
    for overrides, log in zip(cases, ["-", "log"], strict=True):
        out = subprocess.run(
            [sys.executable, "-c", script, str(default), json.dumps(overrides), log],
            capture_output=True,
            text=True,
            check=True,
        )
        got = json.loads(out.stdout)
        assert 0.5 * got["estimate"] < got["grown"] <= got["estimate"], (overrides, got)


# --------------------------------------------------------------------------- progress


def test_progress_bar_only_on_a_terminal():
    from cuhlm_sim.cli.scenario import RunProgress

    shown = io.StringIO()
    bar = RunProgress(after_s=0.0, console=Console(file=shown, force_terminal=True))
    for t in (13.0, 65.0, 130.0):
        bar(t, 130.0)
    bar.close()
    assert "simulated" in shown.getvalue() and "130" in shown.getvalue()

    piped = io.StringIO()
    bar = RunProgress(after_s=0.0, console=Console(file=piped, force_terminal=False))
    bar(65.0, 130.0)
    bar.close()
    assert piped.getvalue() == ""


def test_progress_waits_before_it_shows():
    from cuhlm_sim.cli.scenario import RunProgress

    shown = io.StringIO()
    bar = RunProgress(after_s=3600.0, console=Console(file=shown, force_terminal=True))
    bar(65.0, 130.0)
    bar.close()
    assert shown.getvalue() == ""


def test_run_in_a_pipe_prints_no_progress(cli_runner, write_scenario, tmp_path, monkeypatch):
    import cuhlm_sim.cli.scenario as cli_scenario

    monkeypatch.setattr(cli_scenario, "PROGRESS_AFTER_S", 0.0)
    res = cli_runner.invoke(app, ["run", str(write_scenario()), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "simulated" not in res.stderr and "ETA" not in res.stderr


def test_ctrl_c_during_a_run_is_one_line_and_writes_nothing(
    cli_runner, write_scenario, tmp_path, monkeypatch
):
    import cuhlm_sim.runner as runner

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_scenario", interrupted)
    out = tmp_path / "o"
    res = cli_runner.invoke(app, ["run", str(write_scenario()), "--out", str(out)])
    assert res.exit_code == 130, res.output
    assert res.stderr.strip().splitlines() == [
        f"interrupted: nothing written to {out} (a single run is not resumable)"
    ]
    assert not out.exists()
