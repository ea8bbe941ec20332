"""Unit tests of the model's parts against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuhlm_sim.config.build import section_params
from cuhlm_sim.config.schema import AffineServerConfig
from cuhlm_sim.metrics.compute import jain_index, weighted_quantiles
from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.model.environment import Environment
from cuhlm_sim.model.job import Job
from cuhlm_sim.model.params import PayloadParams
from cuhlm_sim.model.payload import PayloadModel
from cuhlm_sim.model.registry import Registry
from cuhlm_sim.model.server import GpuServer
from cuhlm_sim.model.uplink import EqualShareUplink, shannon_spectral_efficiency


def test_registry_rejects_duplicates_and_names_unknown_kinds():
    reg: Registry[object] = Registry("thing")
    reg.add("a", object)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", object)
    with pytest.raises(KeyError, match="unknown thing 'b'"):
        reg.get("b")


@pytest.mark.parametrize(
    ("vocab", "encoding", "prob_bits", "expected"),
    [
        (32_000, "indexed", 8, 32_000 * 23),  # 736 kbit, docs/theory.md §5
        (32_000, "dense", 16, 512_000),  # FP16 dense
        (151_936, "indexed", 8, 3_950_336),  # docs/models.md §8
    ],
)
def test_full_payload_bits(vocab, encoding, prob_bits, expected):
    pm = PayloadModel(PayloadParams(prob_bits, encoding, vocab, 0))
    assert pm.full_bits == expected


def test_truncated_payload_bits():
    pm = PayloadModel(PayloadParams(8, "indexed", 32_000, 16))
    assert pm.index_bits == 15
    np.testing.assert_array_equal(
        pm.truncated_bits(np.array([1, 30, 300])), [23 + 16, 690 + 16, 6900 + 16]
    )
    assert pm.truncated_bits(40_000) == pm.full_bits


def test_shannon_spectral_efficiency():
    assert shannon_spectral_efficiency(0.0) == pytest.approx(1.0)
    assert shannon_spectral_efficiency(10 * math.log10(3)) == pytest.approx(2.0)
    assert shannon_spectral_efficiency(17.0) == pytest.approx(math.log2(1 + 10**1.7))


def test_weighted_quantile_and_jain():
    v = np.array([1.0, 2.0, 3.0])
    assert weighted_quantiles(v, np.array([1.0, 1.0, 98.0]), [0.95]) == [3.0]
    assert weighted_quantiles(v, np.array([94.0, 2.0, 4.0]), [0.95]) == [2.0]
    assert weighted_quantiles(np.array([]), np.array([]), [0.5]) == [None]
    assert jain_index(np.array([5, 5, 5, 5])) == pytest.approx(1.0)
    assert jain_index(np.array([8, 0, 0, 0])) == pytest.approx(0.25)


class _Sink:
    def __init__(self, env):
        self.env, self.done = env, {}

    def __call__(self, jobs):
        for job in jobs:
            self.done[job.device] = self.env.now


def test_equal_share_uplink_two_devices_hand_computed():
    """W = 1 Hz·(1/s); device 0 (η=1) sends 10 bit at t=0, device 1 (η=2) 4 bit at t=2.

    t in [0,2): device 0 alone at 1 bit/s -> 2 bit sent, 8 left.
    From t=2 both get W/2: device 0 at 0.5 bit/s, device 1 at 1 bit/s -> device 1 ends at t=6
    (4 bit), device 0 has sent 2 more -> 6 left, alone again at 1 bit/s -> ends at t=12.
    """
    env = Environment()
    rec = Recorder(0.0, 100.0, 2, False)
    sink = _Sink(env)
    link = EqualShareUplink(env, 1.0, np.array([1.0, 2.0]), sink, rec)

    def start(dev, at, bits):
        yield env.timeout(at)
        link.submit([Job(dev, 0, bits)])

    env.process(start(0, 0.0, 10.0))
    env.process(start(1, 2.0, 4.0))
    env.run()
    assert sink.done[1] == pytest.approx(6.0)
    assert sink.done[0] == pytest.approx(12.0)
    assert rec.uplink_busy_s == pytest.approx(12.0)


def _server(env, rec, **kw):
    base = dict(gpus=1, llm_latency_s=1.0, max_batch=4, batch_per_item_s=0.5, max_wait_s=0.0)
    base.update(kw)
    params = section_params(AffineServerConfig(**base), downlink_latency_s=0.0)
    return GpuServer(env, params, rec)


def test_server_batches_what_is_queued():
    """A GPU busy with job 0 leaves jobs 1-3 queued; they form one batch of 3: t(3) = 2 s."""
    env = Environment()
    rec = Recorder(0.0, 100.0, 4, False)
    srv = _server(env, rec)
    jobs = [Job(i, 0, 0.0) for i in range(4)]
    srv.submit(jobs[:1])
    for j in jobs[1:]:
        srv.submit([j])
    env.run()
    assert [j.t_gpu_end for j in jobs] == [1.0, 3.0, 3.0, 3.0]
    assert rec.batch_size_counts == {1: 1, 3: 1}
    assert rec.gpu_busy_s == pytest.approx(3.0)


def test_server_max_wait_fills_batch():
    """With max_wait_s = 0.3, jobs at t=0, 0.1, 0.2 wait and go as one batch at t=0.3."""
    env = Environment()
    rec = Recorder(0.0, 100.0, 3, False)
    srv = _server(env, rec, max_wait_s=0.3)
    jobs = [Job(i, 0, 0.0) for i in range(3)]

    def arrive(job, at):
        yield env.timeout(at)
        srv.submit([job])

    for i, j in enumerate(jobs):
        env.process(arrive(j, 0.1 * i))
    env.run()
    assert all(j.t_gpu_start == pytest.approx(0.3) for j in jobs)
    assert all(j.t_gpu_end == pytest.approx(0.3 + 2.0) for j in jobs)


def test_server_max_wait_starts_early_when_full():
    env = Environment()
    rec = Recorder(0.0, 100.0, 4, False)
    srv = _server(env, rec, max_wait_s=10.0, max_batch=2)
    a, b = Job(0, 0, 0.0), Job(1, 0, 0.0)
    srv.submit([a])
    srv.submit([b])
    env.run()
    assert a.t_gpu_start == 0.0 and b.t_gpu_start == 0.0


def test_recorder_skipped_run_window_arithmetic():
    """Run of 10 tokens, spacing 1 s, starting at t=0: commits at 1..10; window [2.5, 7.5]."""
    from cuhlm_sim.metrics.ledger import SKIP, TokenLedger

    rec = Recorder(2.5, 7.5, 1, False)
    rec.ledger = TokenLedger(1, np.zeros((10, 7)), np.zeros((10, len(SKIP))))
    n = np.arange(11, dtype=float)  # every token counts 1, is accepted, has π = 0.5
    cums = np.column_stack([n, n, n * 0.5])
    rec.skipped_run(0, 0.0 + 1.0 * np.arange(1, 11), 1.0, cums, 0)
    assert rec.ledger.skipped("tokens") == 5  # commits 3, 4, 5, 6, 7
    assert rec.ledger.skipped("accepted") == 5
    assert rec.ledger.skipped("accept_prob") == 2.5


def test_equal_share_uplink_group_entry_splits_when_rates_change():
    """W = 1 Hz; devices 0 and 1 (η = 1) send 4 bit each, together at t=0 (one heap entry).

    Each gets 0.5 bit/s; at t=2 both have 3 bit left and η1 becomes 3: device 1 sends at
    1.5 bit/s and ends at t=4; device 0 has 2 bit left then, alone at 1 bit/s: ends at t=6.
    """
    env = Environment()
    rec = Recorder(0.0, 100.0, 2, False)
    sink = _Sink(env)
    eta = np.array([1.0, 1.0])
    link = EqualShareUplink(env, 1.0, eta, sink, rec)
    link.submit([Job(0, 0, 4.0), Job(1, 0, 4.0)])
    assert len(link._heap) == 1

    def change():
        yield env.timeout(2.0)
        eta[1] = 3.0
        link.rates_changed()

    env.process(change())
    env.run()
    assert sink.done[1] == pytest.approx(4.0)
    assert sink.done[0] == pytest.approx(6.0)
    assert rec.uplink_busy_s == pytest.approx(6.0)


@pytest.mark.parametrize("n", [7, 50, 2000])
def test_cyclic_range_sums_match_direct_sums(n):
    from cuhlm_sim.metrics.ledger import TokenLedger

    rng = np.random.default_rng(n)
    skip = np.column_stack([np.ones(n), rng.random(n) < 0.5, rng.random(n)])
    led = TokenLedger(1, np.zeros((n, 7)), skip)
    for start, size in [(0, n), (n - 1, 1), (n - 1, 3), (3 % n, 2 * n + 5), (n // 2, 0)]:
        rows = (start + np.arange(size)) % n
        got = led.range_skip_sums(start, size)
        np.testing.assert_allclose(got, skip[rows].sum(axis=0), atol=1e-9)


def test_draft_timers_share_one_event_per_completion_instant():
    """Drafts that complete at the same instant travel together, whenever they were started;
    other instants get their own event."""
    from cuhlm_sim.model.timers import DraftTimers

    env = Environment()
    arrivals: list[tuple[float, list[int]]] = []
    timers = DraftTimers(env, lambda jobs: arrivals.append((env.now, [j.device for j in jobs])))
    timers.after(0.0, 0.5, Job(0, 0, 1.0))
    timers.after(0.0, 0.5, Job(1, 0, 1.0))
    timers.after(0.0, 0.75, Job(2, 0, 1.0))

    def later():
        yield env.timeout(0.25)
        timers.after(env.now, 0.25, Job(3, 0, 1.0))  # completes at 0.5 too: joins 0 and 1
        timers.after(env.now, 0.25 + 1e-9, Job(4, 0, 1.0))

    env.process(later())
    env.run()
    assert [devs for _, devs in arrivals] == [[0, 1, 3], [4], [2]]
    assert [t for t, _ in arrivals] == pytest.approx([0.5, 0.5 + 1e-9, 0.75], abs=1e-12)
