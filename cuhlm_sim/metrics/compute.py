"""The run summary: every metric of ``docs/metrics.md`` computed from a finished run.

Names here are the keys of ``summary.json``; the formulas are documented in docs/metrics.md
with the same names. Ratios with an empty denominator are ``None`` (JSON null), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cuhlm_sim.metrics.recorder import Recorder
from cuhlm_sim.metrics.stages import Stage
from cuhlm_sim.metrics.steady import MIN_REQUESTS_PER_DEVICE, Truncation
from cuhlm_sim.model.recording import RunResult

#: Probabilities of the token-latency quantiles in summary.json (a sampled CDF).
LATENCY_CDF_PROBS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def weighted_quantiles(
    values: np.ndarray, weights: np.ndarray, qs: Sequence[float]
) -> list[float | None]:
    """Inverted-CDF quantiles of a weighted sample (exact for repeated values); one sort for
    all of ``qs``.

    With whole-number weights (counts: every sample of a run) the sort need not be stable:
    the running sum at the end of each run of equal values is then an exact integer whatever
    order the run is in, so the same value is picked, and numpy's unstable sort is several
    times faster (46k latencies: 4.5 -> 0.7 ms; a summary sorts five samples). Fractional
    weights keep the stable sort, so a float sum never depends on how ties were ordered.
    """
    if values.size == 0 or weights.sum() <= 0:
        return [None] * len(qs)
    whole = (weights >= 0) & (weights == np.floor(weights))
    counts = bool(whole.all()) and float(weights.sum()) < 2.0**53
    order = np.argsort(values, kind=None if counts else "stable")
    v, w = values[order], weights[order]
    cw = np.cumsum(w)
    idx = np.searchsorted(cw, np.asarray(qs, dtype=np.float64) * cw[-1], side="left")
    return [float(x) for x in v[np.minimum(idx, v.size - 1)]]


def jain_index(x: np.ndarray) -> float | None:
    """Jain's fairness index (Σx)² / (n Σx²): 1 = perfectly fair, 1/n = one device gets all."""
    x = np.asarray(x, dtype=np.float64)
    s2 = float((x * x).sum())
    return None if s2 == 0 else float(x.sum() ** 2 / (x.size * s2))


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else float(num) / float(den)


def device_table(result: RunResult[Recorder]) -> dict[str, np.ndarray]:
    """Per-device columns (devices.parquet): tokens, throughput, bits, airtime, RB share."""
    p, r = result.params, result.recorder
    led = r.ledger
    rbs = r.device_rbs
    tokens = led.device_tokens
    bits = led.device_column("bits")
    transmissions = np.rint(led.device_column("transmissions")).astype(np.int64)
    return {
        "device": np.arange(p.devices.count, dtype=np.int32),
        "snr_db": result.snr_db,
        "spectral_efficiency_bps_hz": result.spectral_efficiency,
        "tokens": tokens,
        "throughput_tokens_per_s": tokens / p.duration_s,
        "uplink_bits": bits,
        "uplink_throughput_bps": bits / p.duration_s,
        "transmissions": transmissions,
        "airtime_s": r.device_airtime_s,
        "mean_uplink_queue_s": np.divide(
            r.device_uplink_queue_s,
            transmissions,
            out=np.full(rbs.size, np.nan),
            where=transmissions > 0,
        ),
        "resource_blocks": rbs,
        "rb_share": rbs / r.total_rbs if r.total_rbs else np.zeros(rbs.size),
    }


def summarize(result: RunResult[Recorder], cut: Truncation | None = None) -> dict[str, Any]:
    """The summary of a finished run. ``cut``: MSER-5's answer on the pilot of
    ``warmup_s: auto``; without it the detector reads the measured window's own series."""
    p, r = result.params, result.recorder
    led = r.ledger
    duration = p.duration_s
    n = r.n_tokens
    # In-window counter totals (metrics/ledger.py).
    n_sent, n_skipped = led.sent("tokens"), led.skipped("tokens")
    n_rejected = led.sent("rejected")
    skip_accepted = led.skipped("accepted")
    tau = p.devices.token_time_s
    values, weights = r.latency_samples()
    # The mean from exact sums (the stages of a verified token add up to its latency; a skipped
    # token's latency is its drafting time), not from the samples, which may be binned.
    lat_mean = _ratio(sum(r.stage_sums) + r.skip_latency_total(), n) if n else None
    n_uplink = led.sent("transmissions")
    throughput = n / duration
    # Per-stage breakdown over all tokens: skipped tokens spend τ in the SLM stage only.
    stage_totals = list(r.stage_sums)
    stage_totals[Stage.SLM] += r.skip_latency_total()
    breakdown = {s.key: _ratio(stage_totals[s], n) for s in Stage}
    sent_breakdown = {s.key: _ratio(r.stage_sums[s], n_sent) for s in Stage}
    mean_bits = _ratio(led.sent("bits"), n_uplink)
    e = p.energy
    # the device waits on the uplink queue, the air, the GPU and the downlink
    waiting = sum(r.stage_sums[Stage.UPLINK_QUEUE :])
    # Drafting energy over the in-window tokens' actual drafting times (jittered or τ each;
    # 0 for LLM-only, where nothing is drafted).
    e_compute = e.device_compute_w * stage_totals[Stage.SLM]
    # Radiated energy from the uplink's power model (P_tx·W_n/W or P_tx while sending),
    # circuit power over the time actually sent; the rest of the time on the air is waiting.
    e_tx = e.tx_power_w * r.radiated_s + e.tx_circuit_w * r.tx_air_s
    e_wait = e.device_wait_w * (waiting - r.tx_air_s)
    e_gpu = e.gpu_busy_w * r.gpu_busy_s + e.gpu_idle_w * (p.server.gpus * duration - r.gpu_busy_s)
    e_device = e_compute + e_tx + e_wait
    wait_values, wait_weights = r.gpu_waits.weighted()
    gq, ua = r.gpu_queue, r.uplink_active
    cdf = weighted_quantiles(values, weights, LATENCY_CDF_PROBS)
    wait_p95, wait_p99 = weighted_quantiles(wait_values, wait_weights, (0.95, 0.99))
    (verified_p95,) = weighted_quantiles(*r.sent_latency.weighted(), (0.95,))
    req_values, req_weights = r.request_latency.weighted()
    (req_p95,) = weighted_quantiles(req_values, req_weights, (0.95,))
    n_requests = float(req_weights.sum())
    (tpot_p95,) = weighted_quantiles(*r.tpot.weighted(), (0.95,))
    if cut is None:
        cut = r.latency_series.truncation()
    steady = bool(cut.found and n_requests >= MIN_REQUESTS_PER_DEVICE * p.devices.count)
    summary: dict[str, Any] = {
        "tokens_generated": int(n),
        "throughput_tokens_per_s": throughput,
        "throughput_per_device_tokens_per_s": throughput / p.devices.count,
        "skip_rate": _ratio(n_skipped, n),
        "transmission_rate": _ratio(n_sent, n),
        "true_skip_rate": _ratio(skip_accepted, n_skipped),
        "true_skip_rate_expected": _ratio(led.skipped("accept_prob"), n_skipped),
        "skip_error_rate": _ratio(n_skipped - skip_accepted, n),
        "rejection_rate": _ratio(n_rejected, n_sent),
        "exact_rejection_rate": _ratio(led.sent("exact_rejection"), n_sent),
        "output_tv_distance": _ratio(led.sent("output_tv"), n_sent)
        if led.output_tv_known
        else None,
        "acceptance_rate": _ratio(n - n_rejected - (n_skipped - skip_accepted), n),
        "llm_calls_per_token": _ratio(n_sent, n),
        "uplink_bits_per_transmission": mean_bits,
        "full_payload_bits": result.payload.full_bits,
        "payload_compression": None
        if mean_bits is None
        else 1.0 - mean_bits / result.payload.full_bits,
        "mean_truncation_k": _ratio(led.sent("k"), n_uplink) if n_uplink else None,
        "mean_token_latency_s": lat_mean,
        "p50_token_latency_s": cdf[LATENCY_CDF_PROBS.index(0.5)],
        "p95_token_latency_s": cdf[LATENCY_CDF_PROBS.index(0.95)],
        "p99_token_latency_s": cdf[LATENCY_CDF_PROBS.index(0.99)],
        "token_latency_quantiles_s": {
            f"q{round(q * 100):02d}": x for q, x in zip(LATENCY_CDF_PROBS, cdf, strict=True)
        },
        "mean_verified_token_latency_s": _ratio(sum(r.stage_sums), n_sent),
        "p95_verified_token_latency_s": verified_p95,
        "mean_request_latency_s": _ratio(float((req_values * req_weights).sum()), n_requests),
        "p95_request_latency_s": req_p95,
        "request_throughput_per_s": n_requests / duration,
        "p95_tpot_s": tpot_p95,
        "mean_gpu_queue_wait_s": sent_breakdown["gpu_queue_s"],
        "mean_uplink_queue_s": _ratio(r.stage_sums[Stage.UPLINK_QUEUE], n_uplink),
        "mean_airtime_s": _ratio(r.stage_sums[Stage.AIRTIME], n_uplink),
        "p95_gpu_queue_wait_s": wait_p95,
        "p99_gpu_queue_wait_s": wait_p99,
        "mean_gpu_queue_length": gq.area / duration,
        "gpu_arrival_rate_per_s": gq.arrivals / duration,
        "mean_uplink_active": ua.area / duration,
        "uplink_arrival_rate_per_s": ua.arrivals / duration,
        "gpu_utilization": r.gpu_busy_s / (p.server.gpus * duration),
        "mean_batch_size": _ratio(r.batch_items, r.n_batches),
        "batch_size_counts": {str(k): v for k, v in sorted(r.batch_size_counts.items())},
        "uplink_utilization": r.uplink_busy_s / duration,
        "jain_fairness": jain_index(led.device_tokens),
        "uplink_jain_fairness": jain_index(led.device_column("bits")),
        "rb_jain_fairness": jain_index(r.device_rbs) if r.total_rbs else None,
        "device_energy_per_token_j": _ratio(e_device, n),
        "server_energy_per_token_j": _ratio(e_gpu, n),
        "system_energy_per_token_j": _ratio(e_device + e_gpu, n),
        "energy_breakdown_j": {
            "device_compute": e_compute,
            "device_transmit": e_tx,
            "device_wait": e_wait,
            "server": e_gpu,
        },
        "latency_breakdown_s": breakdown,
        "verified_latency_breakdown_s": sent_breakdown,
        "device_token_time_s": tau,
        "mean_spectral_efficiency_bps_hz": float(np.mean(result.spectral_efficiency)),
        "trace_skip_fraction": float(result.policy.trace.skip_fraction(p.policy.threshold)),
        "requests_completed": int(n_requests),
        "simpy_events": result.events if result.events >= 0 else None,
        "window_s": [p.warmup_s, p.end_s],
        "warmup_used_s": p.warmup_s,
        "steady_state": steady,
    }
    return summary
