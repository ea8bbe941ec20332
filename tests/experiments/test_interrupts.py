"""Interrupts: pool workers die with a killed ``cuhlm sweep``; Ctrl-C keeps every stored run and
says how many (exit 130); the same command then resumes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from cuhlm_sim.cli import app
from cuhlm_sim.experiments.sweep import runner as sweep_mod

from .conftest import TINY

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
CLI = [sys.executable, "-c", "from cuhlm_sim.cli import main; main()"]
INTERRUPTED = re.compile(
    r"^interrupted: (\d+) of (\d+) runs kept in (.+); run the same command again to resume$"
)


def _state(pid: int) -> str | None:
    """Process state letter from /proc (None when gone); a zombie holds no memory."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry.name))
    return out


def _wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if _state(p) not in (None, "Z")}


def _kill_leftovers(pids: set[int]) -> None:
    for pid in _alive(pids):  # only processes this test started
        os.kill(pid, signal.SIGKILL)


def _slow_sweep(tmp_path: Path, duration_s: float, n_points: int) -> Path:
    """A sweep whose runs take about duration_s / 2000 s each (200 devices)."""
    base = dict(TINY, duration_s=duration_s, devices=dict(TINY["devices"], count=200))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    spec = {
        "scenario": "base.yaml",
        "grid": {"policy.threshold": [round(0.05 * i, 2) for i in range(n_points)]},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@linux_only
def test_sigkill_of_sweep_takes_its_pool_workers_along(tmp_path):
    sweep_file = _slow_sweep(tmp_path, duration_s=60_000, n_points=4)  # ~30 s per run
    proc = subprocess.Popen(
        [*CLI, "sweep", str(sweep_file), "--out", str(tmp_path / "out"), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers: set[int] = set()
    try:
        workers = _wait_for(lambda: _children(proc.pid), 60, "the pool workers")
        time.sleep(1.0)  # let them run their initializer and start a run
        workers |= _children(proc.pid)
        assert _alive(workers), "the workers should be running before the kill"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while _alive(workers) and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert not _alive(workers), f"workers {sorted(_alive(workers))} outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        _kill_leftovers(workers)


SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from cuhlm_sim.experiments import executors

    kernel_rule, poll = sys.argv[1] == "1", float(sys.argv[2])
    executors.PARENT_POLL_S = poll  # inherited by the forked worker
    pool = ProcessPoolExecutor(
        1, initializer=executors.exit_with_parent, initargs=(os.getpid(), kernel_rule)
    )
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 600)
    time.sleep(600)
    """
)


@linux_only
@pytest.mark.parametrize(
    "kernel_rule, poll_s",
    [(True, 3600.0), (False, 0.2)],
    ids=["prctl alone", "watchdog alone"],
)
def test_each_guard_alone_ends_an_orphaned_worker(tmp_path, kernel_rule, poll_s):
    """The kernel rule with the watchdog asleep, and the watchdog without the kernel rule."""
    script = tmp_path / "parent.py"
    script.write_text(SCRIPT, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), "1" if kernel_rule else "0", str(poll_s)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    worker: set[int] = set()
    try:
        assert proc.stdout is not None
        worker = {int(proc.stdout.readline())}
        assert _alive(worker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while _alive(worker) and time.monotonic() - t0 < 3:
            time.sleep(0.05)
        assert not _alive(worker)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        _kill_leftovers(worker)


@linux_only
def test_ctrl_c_keeps_runs_says_so_and_the_same_command_resumes(tmp_path):
    sweep_file = _slow_sweep(tmp_path, duration_s=1000, n_points=6)  # ~0.5-1.5 s per run
    out = tmp_path / "out"
    cmd = [*CLI, "sweep", str(sweep_file), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    workers: set[int] = set()
    try:
        _wait_for(lambda: list((out / "runs").glob("*.json")), 120, "a first stored run")
        workers = _children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _kill_leftovers(workers)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not _alive(workers)
    lines = [ln for ln in stderr.splitlines() if ln.startswith("interrupted")]
    assert len(lines) == 1, stderr
    m = INTERRUPTED.match(lines[0])
    assert m is not None, lines[0]
    kept, total = int(m[1]), int(m[2])
    stored = list((out / "runs").glob("*.json"))
    assert (kept, total) == (len(stored), 6)
    assert m[3] == str(out / "runs")
    assert 1 <= kept < total, "interrupt came too late to test a resume"

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"6 runs ({6 - kept} run now, 0 failed)" in res.stdout


def test_ctrl_c_counts_the_runs_of_this_sweep(write_sweep, tmp_path, cli_runner, monkeypatch):
    """In-process: the third run raises KeyboardInterrupt, so two of six are kept."""
    real = sweep_mod.execute_run
    calls = 0

    def interrupt_third(task):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(sweep_mod, "execute_run", interrupt_third)
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "0123456789abcdef0123.json").write_text("{}")  # another sweep's run
    sweep_file = write_sweep(grid={"devices.count": [1, 2, 3]}, repetitions=2)
    res = cli_runner.invoke(app, ["sweep", str(sweep_file), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 130, res.output
    assert f"interrupted: 2 of 6 runs kept in {out / 'runs'}" in res.stderr
    assert "run the same command again to resume" in res.stderr


@pytest.mark.parametrize("with_out", [True, False], ids=["--out", "no --out"])
def test_ctrl_c_on_capacity(base_scenario, tmp_path, cli_runner, monkeypatch, with_out):
    real = sweep_mod.execute_run
    calls = 0

    def interrupt_third(task):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(sweep_mod, "execute_run", interrupt_third)
    out = tmp_path / "cap"
    args = ["capacity", str(base_scenario), "--slo", "p95_token_latency_s<=100", "--reps", "2"]
    args += ["--workers", "1", *(["--out", str(out)] if with_out else [])]
    res = cli_runner.invoke(app, args)
    assert res.exit_code == 130, res.output
    if with_out:
        assert f"interrupted: 2 runs kept in {out / 'runs'}; run the same command" in res.stderr
        assert len(list((out / "runs").glob("*.json"))) == 2
    else:
        assert "interrupted: nothing kept (no --out)" in res.stderr
