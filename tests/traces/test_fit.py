"""Binned u → rejection fit: recovers a known line, thresholds follow the formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.errors import TraceError
from cuhlm_sim.traces.fit import fit_frame, fit_linear, save_plot


def _synthetic(n: int, a: float, b: float, K: int = 20, seed: int = 0) -> pd.DataFrame:
    """u on the K+1 grid, rejected ~ Bernoulli(a·u + b); p, q set so Δ is known (30 %)."""
    rng = np.random.default_rng(seed)
    u = rng.binomial(K, rng.beta(0.6, 1.5, n)) / K
    beta = np.clip(a * u + b, 0, 1)
    accepted = rng.random(n) >= beta
    p = np.full(n, 0.5)
    q = np.where(rng.random(n) < 0.3, 0.25, 0.75)
    return pd.DataFrame(
        {
            "uncertainty": u,
            "accepted": accepted,
            "accept_prob": 1 - beta,
            "p_draft": p,
            "q_target": q,
            "kind": "code",
        }
    )


def test_recovers_known_line_within_ci() -> None:
    a, b = 0.8, 0.05
    r = fit_frame(_synthetic(40_000, a, b))
    assert r.a_ci[0] <= a <= r.a_ci[1]
    assert r.b_ci[0] <= b <= r.b_ci[1]
    assert r.a_ci[1] - r.a_ci[0] < 0.1
    assert r.n_bins == 21 and r.r2 > 0.9


def test_beta_target_is_exact_on_noiseless_data() -> None:
    r = fit_frame(_synthetic(5_000, 0.6, 0.1), target="beta")
    assert r.a == pytest.approx(0.6, abs=1e-9) and r.b == pytest.approx(0.1, abs=1e-9)
    assert r.r2 == pytest.approx(1.0)


def test_thresholds_follow_u_hlm_formulas() -> None:
    df = _synthetic(20_000, 0.82, -0.06)
    r = fit_frame(df)
    assert r.delta == pytest.approx(np.mean(df["q_target"] < df["p_draft"]))
    assert r.u_th_averse == pytest.approx(-r.b / r.a)
    assert r.u_th_prone == pytest.approx((r.delta - r.b) / r.a)
    assert r.skip_rate_averse == pytest.approx(np.mean(df["uncertainty"] <= r.u_th_averse))


def test_continuous_u_uses_equal_width_bins() -> None:
    rng = np.random.default_rng(1)
    u = rng.random(10_000)
    y = (rng.random(10_000) < 0.5 * u + 0.1).astype(float)
    r = fit_linear(u, y, delta=0.3, n_bins=None)
    assert r.n_bins == 20 and r.a_ci[0] <= 0.5 <= r.a_ci[1]


def test_too_few_bins_is_a_user_error() -> None:
    with pytest.raises(TraceError, match="at least 3"):
        fit_linear(np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]), delta=0.1)
    with pytest.raises(TraceError, match="--target"):
        fit_frame(_synthetic(100, 0.5, 0.1), target="nope")


def test_plot_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    r = fit_frame(_synthetic(2_000, 0.7, 0.0))
    out = save_plot({"all": r}, tmp_path / "sub" / "fit.png")
    assert out.exists() and out.stat().st_size > 1000
