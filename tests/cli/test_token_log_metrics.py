"""Summary metrics recomputed from the files a user gets, read back with pandas.

Each expected value is computed here from ``tokens.parquet`` (or from the trace file), never
with the simulator's counters or its formulas: the summary and the log are two independent
routes to the same number.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.cli import app

REAL_TRACE = Path(__file__).resolve().parents[2] / "traces" / "qwen-coder-0.5b-1.5b.parquet"

CELLS = {
    "uhlm": {"policy": {"kind": "uhlm", "threshold": 0.3}},
    "hlm": {"policy": {"kind": "hlm"}},
    "random_skip": {"policy": {"kind": "random_skip", "threshold": 0.3}},
    "cuhlm_k30": {"policy": {"kind": "cuhlm", "threshold": 0.15, "truncation_k": 30}},
    "ihlm_rr": {
        "policy": {"kind": "ihlm", "threshold": 0.2, "importance_source": "synthetic"},
        "uplink": {"scheduler": "round_robin"},
    },
}


def _quantile(x: np.ndarray, q: float) -> float:
    """Inverted-CDF quantile: the smallest value whose empirical CDF reaches q."""
    return float(np.quantile(x, q, method="inverted_cdf"))


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_summary_equals_the_token_log(cli_runner, write_scenario, tmp_path, cell):
    sections = {"uplink": {"bandwidth_hz": 1e9}, **CELLS[cell]}
    sections["uplink"] = {"bandwidth_hz": 1e9, **sections["uplink"]}
    scenario = write_scenario(
        warmup_s=2.1,
        duration_s=6.0,
        devices={"count": 6, "slm_latency_s": 0.03, "tokens_per_request": 200},
        **sections,
    )
    out = tmp_path / "r"
    res = cli_runner.invoke(app, ["run", str(scenario), "--out", str(out), "--log-tokens"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    log = pd.read_parquet(out / "tokens.parquet")
    t = log[(log["t_commit_s"] >= 2.1) & (log["t_commit_s"] <= 8.1)]
    n = len(t)
    assert n == s["tokens_generated"] > 100
    skipped, sent = t[~t["sent"]], t[t["sent"]]
    assert s["skip_rate"] == pytest.approx(len(skipped) / n, abs=1e-12)
    if len(skipped):
        assert s["true_skip_rate"] == pytest.approx(skipped["accepted"].mean(), abs=1e-12)
    else:
        assert s["true_skip_rate"] is None
    skip_errors = int((~skipped["accepted"]).sum())
    assert s["skip_error_rate"] == pytest.approx(skip_errors / n, abs=1e-12)
    rejected = int((~sent["accepted"]).sum())
    assert s["rejection_rate"] == pytest.approx(rejected / len(sent), abs=1e-12)
    assert s["acceptance_rate"] == pytest.approx((n - rejected - skip_errors) / n, abs=1e-12)
    latency = (t["t_commit_s"] - t["t_start_s"]).to_numpy()
    assert s["mean_token_latency_s"] == pytest.approx(latency.mean(), rel=1e-9)
    for q, key in ((0.5, "p50_token_latency_s"), (0.95, "p95_token_latency_s")):
        assert s[key] == pytest.approx(_quantile(latency, q), rel=1e-9), key
    assert s["p99_token_latency_s"] == pytest.approx(_quantile(latency, 0.99), rel=1e-9)
    verified = (sent["t_commit_s"] - sent["t_start_s"]).to_numpy()
    assert s["p95_verified_token_latency_s"] == pytest.approx(_quantile(verified, 0.95), rel=1e-9)
    assert s["mean_verified_token_latency_s"] == pytest.approx(verified.mean(), rel=1e-9)
    bits = sent["payload_bits"].to_numpy()
    assert s["uplink_bits_per_transmission"] == pytest.approx(bits[bits > 0].mean(), rel=1e-9)


@pytest.fixture(scope="module")
def real() -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    import pyarrow.parquet as pq

    table = pq.read_table(REAL_TRACE)
    meta = json.loads(table.schema.metadata[b"cuhlm_sim.trace"])
    df = table.select(["u_count", "accept_prob", "accepted"]).to_pandas()
    tv = np.stack(table.column("topk_tv_out").to_pylist())  # [rows, G]
    return df, tv, list(meta["k_grid"])


def test_cuhlm_quality_metrics_from_the_trace_file(real, one_pass):
    """output_tv_distance and exact_rejection_rate over the transmitted rows, from pandas."""
    df, tv, grid = real
    th, k = 0.15, 30
    s = one_pass({"kind": "cuhlm", "threshold": th, "truncation_k": k})
    sent = (df["u_count"] > round(th * 20)).to_numpy()
    assert s["output_tv_distance"] == pytest.approx(tv[sent, grid.index(k)].mean(), rel=1e-6)
    exact = float((~df["accepted"][sent]).mean())
    assert s["exact_rejection_rate"] == pytest.approx(exact, rel=1e-6)
    # Verification against the truncated draft rejects less than the exact one would.
    assert s["rejection_rate"] < s["exact_rejection_rate"]
    # Without truncation the output law is the LLM's: zero distance.
    u = one_pass({"kind": "uhlm", "threshold": th})
    assert u["output_tv_distance"] == 0.0
    assert u["exact_rejection_rate"] == pytest.approx(exact, rel=1e-6)
    # Without truncation the verification run is the untruncated one: the two rates coincide.
    assert u["rejection_rate"] == pytest.approx(u["exact_rejection_rate"], abs=1e-12)


def test_cuhlm_true_skip_rate_comes_from_the_trace_not_the_truncated_test(tmp_path):
    """A trace where every confident draft is accepted by the full-vocabulary test but would
    be rejected under top-30 truncation: the true-skip rate must be 1.000 whatever k."""
    from cuhlm_sim.config.schema import Scenario
    from cuhlm_sim.runner import run_scenario
    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    table, meta = synth_table(SynthParams(num_rows=4000), 0)
    df = table.to_pandas()
    confident = df["u_count"] <= 4  # skipped at u_th = 0.2
    df.loc[confident, "accepted"] = True
    df.loc[confident, "accept_prob"] = 1.0
    df.loc[confident, "u_accept"] = 0.5
    grid = list(meta["k_grid"])
    acc = np.stack(df["topk_accept_prob"].to_numpy())
    acc[confident.to_numpy(), grid.index(30)] = 0.0  # truncation would always reject them
    df["topk_accept_prob"] = list(acc.astype(np.float32))
    import pyarrow as pa

    path = tmp_path / "built.parquet"
    write_trace(pa.Table.from_pandas(df, schema=table.schema), path, meta)
    for k in (30, None):
        scn = Scenario.model_validate(
            {
                "duration_s": 60.0,
                "warmup_s": 1.0,
                "devices": {"count": 4, "slm_latency_s": 0.01},
                "policy": {"kind": "cuhlm", "threshold": 0.2, "truncation_k": k},
                "trace": {"path": str(path)},
            }
        )
        s = run_scenario(scn).summary
        assert s["skip_rate"] > 0.1
        assert s["true_skip_rate"] == 1.0
        assert s["skip_error_rate"] == 0.0
