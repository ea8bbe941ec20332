"""Capacity search against a GPU-bound cell whose capacity is known in closed form.

Devices draft for τ_s, every token is verified (HLM), the uplink is effectively infinite
(bandwidth 1e12 Hz) and the GPU verifies one token at a time in τ_l. A device then cycles in
τ_s + τ_l while the GPU has spare time, and the GPU saturates at N* = (τ_s + τ_l) / τ_l
devices. Below N* the deterministic closed loop settles with no GPU queueing; above it each
token waits N τ_l − (τ_s + τ_l) and a device gets 1 / (N τ_l) tokens per second.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import CuhlmError, ScenarioError
from cuhlm_sim.experiments.capacity import _search, find_capacity, parse_over, parse_slo
from cuhlm_sim.experiments.sweep import RunStore

TAU_S = 0.09


def gpu_bound(llm_latency_s: float = 0.01) -> dict[str, Any]:
    return {
        "seed": 3,
        "duration_s": 10.0,
        "warmup_s": 1.0,
        # fixed times: the closed form is for the deterministic closed loop
        "devices": {"count": 1, "slm_latency_s": TAU_S, "slm_latency_dist": "fixed"},
        "uplink": {"bandwidth_hz": 1e12},
        "server": {"max_batch": 1, "llm_latency_s": llm_latency_s, "llm_latency_dist": "fixed"},
        "policy": {"kind": "hlm"},
        "trace": {"path": None, "synth_rows": 1000},
    }


def test_queue_wait_slo_finds_saturation_point():
    """SLO: no GPU queueing (wait <= 1 ms) holds up to N* and fails from N* + 1 on."""
    base = Scenario.model_validate(gpu_bound())
    llm = [0.01, 0.02]
    entries = find_capacity(
        base,
        [parse_slo("mean_gpu_queue_wait_s<=0.001")],
        [("server.llm_latency_s", llm)],
        repetitions=2,
    )
    for entry, tau_l in zip(entries, llm, strict=True):
        n_star = (TAU_S + tau_l) / tau_l  # 10 and 5.5 devices
        assert abs(entry.capacity - n_star) <= 1
        assert entry.capacity == math.floor(n_star + 1e-9)
        assert (entry.lower, entry.upper) == (entry.capacity, entry.capacity + 1)
        assert entry.params == {"server.llm_latency_s": tau_l}
        tried = {e["devices"] for e in entry.evaluations}
        assert {1, 2, 4, entry.capacity, entry.upper} <= tried
        assert len(entry.runs) == 2 * len(tried)


def test_per_device_throughput_slo_is_exactly_n_star():
    """Per-device rate 1/(τ_s+τ_l) up to N* = 10, then N*/N of it: SLO at 98% gives N*."""
    tau_l = 0.01
    base = Scenario.model_validate(gpu_bound(tau_l))
    bound = 0.98 / (TAU_S + tau_l)
    [entry] = find_capacity(
        base, [parse_slo(f"throughput_per_device_tokens_per_s>={bound}")], repetitions=1
    )
    assert entry.capacity == round((TAU_S + tau_l) / tau_l)
    assert not entry.capped


def test_capped_search_reports_it():
    base = Scenario.model_validate(gpu_bound())
    [entry] = find_capacity(base, [parse_slo("gpu_utilization<=1.0")], repetitions=1, max_devices=3)
    assert (entry.capacity, entry.upper, entry.capped) == (3, 4, True)


def test_search_sequence_is_exponential_then_bisection():
    gen = _search(1, 1024, 1)
    tried, n = [], next(gen)
    try:
        while True:
            tried.append(n)
            n = gen.send(n <= 37)
    except StopIteration as stop:
        assert stop.value == (37, 38)
    assert tried[:7] == [1, 2, 4, 8, 16, 32, 64]
    assert tried[7:] == [48, 40, 36, 38, 37]


def test_store_makes_a_second_search_run_nothing(tmp_path):
    base = Scenario.model_validate(gpu_bound())
    store = RunStore(tmp_path / "runs")
    slos = [parse_slo("mean_gpu_queue_wait_s<=0.001")]
    ran: list[str] = []
    first = find_capacity(base, slos, repetitions=1, store=store, on_result=lambda r: ran.append(r))
    assert ran
    ran.clear()
    again = find_capacity(base, slos, repetitions=1, store=store, on_result=lambda r: ran.append(r))
    assert ran == []
    assert again[0].capacity == first[0].capacity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p95_token_latency_s<=0.5", ("p95_token_latency_s", "<=", 0.5)),
        ("gpu_utilization < 0.9", ("gpu_utilization", "<", 0.9)),
        ("throughput_tokens_per_s>=1e2", ("throughput_tokens_per_s", ">=", 100.0)),
        ("skip_rate>0.5", ("skip_rate", ">", 0.5)),
    ],
)
def test_parse_slo(text, expected):
    slo = parse_slo(text)
    assert (slo.metric, slo.op, slo.threshold) == expected


def test_bad_inputs_fail_before_running():
    with pytest.raises(CuhlmError, match="expected METRIC<=VALUE"):
        parse_slo("p95 = 3")
    with pytest.raises(CuhlmError, match="not a scenario key"):
        parse_over("channel.snr=0,5")
    with pytest.raises(CuhlmError, match="empty axis"):
        parse_over("channel.snr_db=")
    assert parse_over("policy.kind=hlm,uhlm") == ("policy.kind", ["hlm", "uhlm"])
    base = Scenario.model_validate(gpu_bound())
    with pytest.raises(CuhlmError, match="unknown metric 'p95_latency'"):
        find_capacity(base, [parse_slo("p95_latency<=1")], repetitions=1)
    with pytest.raises(ScenarioError, match=r"channel.snr_db=999.*less than or equal"):
        find_capacity(base, [parse_slo("gpu_utilization<=1")], [("channel.snr_db", [0, 999])])


def test_cli_capacity_writes_capacity_json(tmp_path):
    from typer.testing import CliRunner

    from cuhlm_sim.cli import app

    scn = tmp_path / "gpu.yaml"
    scn.write_text(yaml.safe_dump(gpu_bound()), encoding="utf-8")
    out = tmp_path / "cap"
    args = ["capacity", str(scn), "--slo", "mean_gpu_queue_wait_s<=0.001"]
    args += ["--over", "server.llm_latency_s=0.01,0.02", "--reps", "1", "--workers", "1"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "capacity.json").read_text())
    assert data["slos"] == ["mean_gpu_queue_wait_s<=0.001"]
    got = [(e["key"], e["value"], e["capacity"], e["lower"], e["upper"]) for e in data["entries"]]
    assert got == [
        ("server.llm_latency_s", 0.01, 10, 10, 11),
        ("server.llm_latency_s", 0.02, 5, 5, 6),
    ]
    assert all(e["runs"] and e["runs"][0]["status"] == "ok" for e in data["entries"])
    assert list((out / "runs").glob("*.json"))
    res = CliRunner().invoke(app, ["capacity", str(scn), "--slo", "p95<1", "--workers", "1"])
    assert res.exit_code == 2
    assert "unknown metric" in res.stderr


def test_capacity_through_dask_matches_in_process():
    from distributed import Client, LocalCluster

    from cuhlm_sim.experiments.executors import DaskRunner

    base = Scenario.model_validate(gpu_bound())
    slos = [parse_slo("mean_gpu_queue_wait_s<=0.001")]
    local = find_capacity(base, slos, repetitions=2)
    with (
        LocalCluster(
            processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        remote = find_capacity(base, slos, repetitions=2, executor=DaskRunner(client=client))
    assert [e.to_json()["evaluations"] for e in remote] == [
        e.to_json()["evaluations"] for e in local
    ]
    assert remote[0].capacity == local[0].capacity == 10


# --- the searches of the axis values run side by side -------------------------------------------


class OrderedExecutor:
    """In this process, one pending item at a time, the one at index ``pick(pending)``: a
    stand-in for workers that finish runs in any order."""

    def __init__(self, pick: Callable[[list[Any]], int]) -> None:
        self.pick = pick
        self.ran: list[Any] = []

    def imap(self, fn, items, then=lambda _r: ()):
        pending = list(items)
        while pending:
            item = pending.pop(self.pick(pending))
            self.ran.append(item)
            result = fn(item)
            yield result
            pending.extend(then(result))

    def close(self) -> None:
        return None


TWO_POINTS = [("server.llm_latency_s", [0.01, 0.02])]
QUEUE_SLO = [parse_slo("mean_gpu_queue_wait_s<=0.001")]


def test_a_point_goes_on_while_another_points_runs_are_pending():
    """Point 1's runs are slow (run only when nothing of point 0 is pending): point 0's
    whole search finishes first, which a lock step (every point's count in before any point's
    next) could not do. Same capacities as one run after another."""
    base = Scenario.model_validate(gpu_bound())
    ex = OrderedExecutor(
        lambda pending: next((k for k, t in enumerate(pending) if t.point == 0), 0)
    )
    entries = find_capacity(base, QUEUE_SLO, TWO_POINTS, repetitions=2, executor=ex)
    points = [t.point for t in ex.ran]
    assert points == sorted(points) and set(points) == {0, 1}
    assert [e.capacity for e in entries] == [10, 5]
    in_order = find_capacity(base, QUEUE_SLO, TWO_POINTS, repetitions=2)
    assert [e.to_json() for e in entries] == [e.to_json() for e in in_order]


@pytest.mark.parametrize("order", ["last first", "shuffled"])
def test_capacities_do_not_depend_on_the_order_runs_finish_in(order):
    rng = random.Random(4)
    pick = (lambda p: len(p) - 1) if order == "last first" else (lambda p: rng.randrange(len(p)))
    base = Scenario.model_validate(gpu_bound())
    got = find_capacity(base, QUEUE_SLO, TWO_POINTS, repetitions=2, executor=OrderedExecutor(pick))
    want = find_capacity(base, QUEUE_SLO, TWO_POINTS, repetitions=2)
    assert [e.to_json() for e in got] == [e.to_json() for e in want]


def test_equal_axis_values_share_their_runs():
    """Two equal values wait for the same runs: each is run once and both searches end."""
    base = Scenario.model_validate(gpu_bound())
    ran: list[str] = []
    a, b = find_capacity(
        base,
        QUEUE_SLO,
        [("server.llm_latency_s", [0.02, 0.02])],
        repetitions=2,
        on_result=ran.append,
    )
    assert a.to_json() == b.to_json() and a.capacity == 5
    assert sorted(r["key"] for r in ran) == sorted(r["key"] for r in a.runs)


def test_a_half_stored_search_runs_only_what_is_missing(tmp_path):
    """Stored runs count as done (and lead on to the next counts) without running again."""
    base = Scenario.model_validate(gpu_bound())
    store = RunStore(tmp_path / "runs")
    full = find_capacity(base, QUEUE_SLO, TWO_POINTS, repetitions=2)
    kept = [r["key"] for r in full[0].runs[:5]]  # point 0's first counts
    ran: list[dict[str, Any]] = []
    find_capacity(base, QUEUE_SLO, TWO_POINTS, repetitions=2, store=store, on_result=ran.append)
    for path in (tmp_path / "runs").glob("*.json"):
        if path.stem not in kept:
            path.unlink()
    ran.clear()
    again = find_capacity(
        base, QUEUE_SLO, TWO_POINTS, repetitions=2, store=store, on_result=ran.append
    )
    assert [e.to_json() for e in again] == [e.to_json() for e in full]
    every = {r["key"] for e in full for r in e.runs}
    assert sorted(r["key"] for r in ran) == sorted(every - set(kept))
