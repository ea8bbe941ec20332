"""Skip decisions at grid thresholds, checked against the trace file read with pandas.

The expected skip rates are computed here from the raw ``u_count`` column (integers), never
from the simulator's ``uncertainty`` array: that is how a float32 u compared with a float64
threshold went unnoticed (float32(0.1) > 0.1 dropped every row with u_count = 2 of K = 20).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.traces.fit import fit_trace
from cuhlm_sim.traces.io import load_trace

REAL_TRACE = Path(__file__).resolve().parents[2] / "traces" / "qwen-coder-0.5b-1.5b.parquet"
GRID = [round(0.05 * i, 2) for i in range(21)]  # 0, 0.05, ..., 1 as a user writes them
K = 20


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_parquet(REAL_TRACE, columns=["u_count", "accepted", "uncertainty"])


def _expected(raw: pd.DataFrame, th: float) -> float:
    return float((raw["u_count"] <= round(th * K)).mean())


@pytest.mark.parametrize("th", GRID)
def test_uhlm_skip_rate_at_every_grid_threshold_equals_the_file(raw, th, one_pass):
    s = one_pass({"kind": "uhlm", "threshold": th})
    expected = _expected(raw, th)
    assert s["skip_rate"] == pytest.approx(expected, abs=1e-12)
    assert s["trace_skip_fraction"] == pytest.approx(expected, abs=1e-12)
    skipped = raw["u_count"] <= round(th * K)
    if skipped.any():
        assert s["true_skip_rate"] == pytest.approx(raw["accepted"][skipped].mean(), abs=1e-12)


@pytest.mark.parametrize("th", [0.1, 0.15, 0.3])
def test_cuhlm_and_ihlm_skip_on_the_same_grid(raw, th, one_pass):
    expected = _expected(raw, th)
    s = one_pass({"kind": "cuhlm", "threshold": th, "truncation_k": 30})
    assert s["skip_rate"] == pytest.approx(expected, abs=1e-12)
    # IU-HLM with importance threshold 0 transmits exactly what U-HLM transmits.
    s = one_pass(
        {
            "kind": "ihlm",
            "threshold": th,
            "importance_threshold": 0.0,
            "importance_source": "synthetic",
        }
    )
    assert s["skip_rate"] == pytest.approx(expected, abs=1e-12)


def test_random_skip_matches_the_file_share(raw):
    """Rand-HLM's matched skip probability is the file's share at the same threshold."""
    from cuhlm_sim.config.build import build_params

    trace = load_trace(REAL_TRACE)
    scn = Scenario.model_validate({"policy": {"kind": "random_skip", "threshold": 0.1}})
    pol = build_params(scn, trace).policy
    from cuhlm_sim.model.policies.simple import RandomSkipPolicy

    rand = RandomSkipPolicy(pol, trace, None)
    assert rand.skip_probability == pytest.approx(_expected(raw, 0.1), abs=1e-12)


def test_loaded_uncertainty_is_exactly_on_the_grid(raw):
    trace = load_trace(REAL_TRACE)
    np.testing.assert_array_equal(trace.uncertainty, raw["u_count"].to_numpy() / K)
    assert trace.uncertainty.dtype == np.float64
    # The stored float32 value is what misled the old comparison.
    assert float(np.float32(0.1)) > 0.1 and (raw["uncertainty"] == np.float32(0.1)).any()


def test_fit_skip_rate_uses_the_grid(raw):
    fit = fit_trace(REAL_TRACE)["all"]
    u = raw["u_count"].to_numpy() / K
    assert fit.skip_rate_averse == pytest.approx(float(np.mean(u <= fit.u_th_averse)), abs=0)
    np.testing.assert_allclose(sorted(fit.bin_u), np.unique(u), atol=1e-12)


def test_synthetic_trace_lands_on_the_grid(tmp_path):
    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    table, meta = synth_table(SynthParams(num_rows=3000), 0)
    path = tmp_path / "s.parquet"
    write_trace(table, path, meta)
    df = pd.read_parquet(path, columns=["u_count"])
    trace = load_trace(path)
    for th in (0.05, 0.1, 0.15, 0.2, 0.3, 0.35, 0.4, 0.45, 0.55, 0.6, 0.7):
        expected = float((df["u_count"] <= round(th * meta["K"])).mean())
        assert trace.skip_fraction(th) == pytest.approx(expected, abs=1e-12)


def _synth_file(tmp_path, drop_k: bool = False, drop_count: bool = False):
    import json

    import pyarrow.parquet as pq

    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    table, meta = synth_table(SynthParams(num_rows=3000), 0)
    if drop_count:
        table = table.drop(["u_count"])
    path = tmp_path / "s.parquet"
    write_trace(table, path, {k: v for k, v in meta.items() if not (drop_k and k == "K")})
    assert ("K" in json.loads(pq.read_schema(path).metadata[b"cuhlm_sim.trace"])) is not drop_k
    return path, meta["K"]


@pytest.mark.parametrize("drop_count", [False, True])
def test_trace_without_k_in_its_metadata_stays_on_the_grid(tmp_path, drop_count):
    """K missing from the metadata: inferred from u_count / u, or u compared in float32."""
    path, k = _synth_file(tmp_path, drop_k=True, drop_count=drop_count)
    truth = pd.read_parquet(path)
    if drop_count:  # only float32 u left: the file's own values, compared at float32
        u = truth["uncertainty"].to_numpy()
        expected = {th: float((u <= np.float32(th)).mean()) for th in (0.1, 0.15, 0.3)}
    else:
        expected = {th: float((truth["u_count"] <= round(th * k)).mean()) for th in (0.1, 0.15)}
    trace = load_trace(path)
    for th, want in expected.items():
        assert trace.skip_fraction(th) == pytest.approx(want, abs=1e-12), th
    # and the float32 rows at u = 0.1 are skipped at u_th = 0.1 (the defect being guarded)
    assert trace.skip_fraction(0.1) > trace.skip_fraction(0.0999)
