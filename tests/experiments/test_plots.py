"""Figures: each kind is drawn when its axis was swept (PNG and PDF), refused otherwise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.experiments.executors import InProcessExecutor
from cuhlm_sim.experiments.plots import energy_metrics, label, plot_dir, read_sweep_dir
from cuhlm_sim.experiments.sweep import load_sweep, run_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _sweep(write_sweep, tmp_path: Path, name: str, **spec) -> Path:
    out = tmp_path / name
    run_sweep(load_sweep(write_sweep(f"{name}.yaml", **spec)), out, InProcessExecutor())
    return out


def _assert_figure(base: Path) -> None:
    png, pdf = base.with_suffix(".png"), base.with_suffix(".pdf")
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_devices_sweep_gives_throughput_and_latency(write_sweep, tmp_path):
    out = _sweep(
        write_sweep,
        tmp_path,
        "dev",
        grid={"devices.count": [1, 3], "policy.kind": ["hlm", "uhlm"]},
        repetitions=2,
    )
    written = plot_dir(out)
    names = {p.name for p in written}
    assert names == {
        "throughput.png",
        "throughput.pdf",
        "latency.png",
        "latency.pdf",
        "latency_cdf.png",
        "latency_cdf.pdf",
    }
    _assert_figure(out / "figures" / "throughput")
    _assert_figure(out / "figures" / "latency")
    _assert_figure(out / "figures" / "latency_cdf")
    with pytest.raises(CuhlmError, match=r"did not sweep policy\.threshold"):
        plot_dir(out, "skip")
    with pytest.raises(CuhlmError, match=r"no capacity\.json"):
        plot_dir(out, "capacity")


def test_threshold_sweep_gives_skip_rates_and_energy_when_present(write_sweep, tmp_path):
    out = _sweep(
        write_sweep,
        tmp_path,
        "thr",
        grid={"policy.threshold": [0.0, 0.1, 0.3]},
        repetitions=2,
    )
    fig_dir = tmp_path / "figs"
    written = {p.name for p in plot_dir(out, "auto", fig_dir)}
    assert {"skip.png", "skip.pdf"} <= written
    _assert_figure(fig_dir / "skip")
    points, axes = read_sweep_dir(out)
    assert axes == ["policy.threshold"]
    has_energy = bool(energy_metrics(points))
    assert ("energy.png" in written) == has_energy
    if not has_energy:
        with pytest.raises(CuhlmError, match="energy_per_token_j"):
            plot_dir(out, "energy", fig_dir)


def test_capacity_figure_from_capacity_json(tmp_path):
    entries = [
        {"key": "channel.snr_db", "value": snr, "params": {"channel.snr_db": snr, "policy.kind": k},
         "capacity": c, "lower": c, "upper": c + 2}
        for k, caps in (("hlm", [2, 5, 9]), ("uhlm", [4, 11, 20]))
        for snr, c in zip([0, 10, 20], caps, strict=True)
    ]  # fmt: skip
    (tmp_path / "capacity.json").write_text(
        json.dumps({"slos": ["p95_token_latency_s<=0.5"], "entries": entries})
    )
    written = plot_dir(tmp_path)
    assert {p.name for p in written} == {"capacity.png", "capacity.pdf"}
    _assert_figure(tmp_path / "figures" / "capacity")


def test_labels_carry_units():
    assert label("throughput_tokens_per_s") == "throughput [tok/s]"
    assert label("channel.snr_db") == "uplink SNR [dB]"
    assert label("p95_token_latency_s") == "p95 token latency [s]"
    assert label("system_energy_per_token_j") == "system energy [J/token]"
    assert label("skip_rate") == "skip rate [–]"


def test_cli_plot(write_sweep, tmp_path):
    from typer.testing import CliRunner

    from cuhlm_sim.cli import app

    out = _sweep(write_sweep, tmp_path, "cli", grid={"devices.count": [1, 2]})
    res = CliRunner().invoke(app, ["plot", str(out), "--kind", "throughput"])
    assert res.exit_code == 0, res.output
    assert (out / "figures" / "throughput.pdf").is_file()
    res = CliRunner().invoke(app, ["plot", str(tmp_path / "missing")])
    assert res.exit_code == 2
    assert "not a folder" in res.stderr


# --- honest figures: bands within physics, one name per scheme, every curve, capacity -------

#: The display names users see, written out here (not read from the table under test).
DISPLAY = {
    "hlm": "HLM",
    "uhlm": "U-HLM",
    "cuhlm": "CU-HLM",
    "ihlm": "IU-HLM",
    "random_skip": "Rand-HLM",
    "slm_only": "SLM only",
    "llm_only": "LLM only",
}


def _band_extent(ax, x: float) -> tuple[float, float]:
    """(lowest, highest) y of the band polygon drawn at x, read back from the axes."""
    (poly,) = [c for c in ax.collections if c.get_paths()]
    v = poly.get_paths()[0].vertices
    ys = v[np.isclose(v[:, 0], x), 1]
    return float(ys.min()), float(ys.max())


def test_line_bands_are_clipped_to_each_metrics_physical_range():
    from cuhlm_sim.experiments.plots import line_figure

    thr = [0.0, 0.2, 0.4]
    points = pd.DataFrame(
        {
            "policy.threshold": thr,
            "skip_rate_mean": [0.02, 0.5, 0.97],
            "skip_rate_ci95": [0.10, 0.10, 0.10],
            "true_skip_rate_mean": [0.90, 0.96, 0.99],
            "true_skip_rate_ci95": [0.05, 0.10, np.nan],  # NaN: one repetition, no band
        }
    )
    fig = line_figure(points, ["policy.threshold"], "policy.threshold",
                      ["skip_rate", "true_skip_rate"], "t")  # fmt: skip
    skip_ax, tsr_ax = fig.axes
    expected_skip = [(0.0, 0.12), (0.4, 0.6), (0.87, 1.0)]
    expected_tsr = [(0.85, 0.95), (0.86, 1.0), (0.99, 0.99)]
    for x, want in zip(thr, expected_skip, strict=True):
        assert _band_extent(skip_ax, x) == pytest.approx(want)
    for x, want in zip(thr, expected_tsr, strict=True):
        assert _band_extent(tsr_ax, x) == pytest.approx(want)


def test_throughput_band_never_below_zero_and_device_ticks_are_integers():
    from cuhlm_sim.experiments.plots import line_figure

    points = pd.DataFrame(
        {
            "devices.count": [1, 2, 3],
            "throughput_tokens_per_s_mean": [1.0, 2.0, 2.5],
            "throughput_tokens_per_s_ci95": [3.0, 0.5, 0.5],
        }
    )
    fig = line_figure(points, ["devices.count"], "devices.count",
                      ["throughput_tokens_per_s"], "t")  # fmt: skip
    (ax,) = fig.axes
    assert _band_extent(ax, 1) == pytest.approx((0.0, 4.0))
    assert _band_extent(ax, 2) == pytest.approx((1.5, 2.5))
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_every_scheme_has_its_one_display_name_in_legends():
    from cuhlm_sim.experiments.plots import SCHEME_NAMES, line_figure

    kinds = list(DISPLAY)
    points = pd.DataFrame(
        {
            "devices.count": [1, 2] * len(kinds),
            "policy.kind": [k for k in kinds for _ in range(2)],
            "throughput_tokens_per_s_mean": 1.0,
            "throughput_tokens_per_s_ci95": 0.1,
        }
    )
    fig = line_figure(points, ["devices.count", "policy.kind"], "devices.count",
                      ["throughput_tokens_per_s"], "t")  # fmt: skip
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == "scheme"
    assert [t.get_text() for t in legend.get_texts()] == [DISPLAY[k] for k in kinds]
    assert {k: SCHEME_NAMES[k] for k in DISPLAY} == DISPLAY


def test_every_registered_scheme_has_a_display_name():
    from cuhlm_sim.experiments.plots import SCHEME_NAMES
    from cuhlm_sim.model.policies import POLICIES

    unnamed = set(POLICIES) - set(SCHEME_NAMES)
    assert not unnamed, f"add a display name to plots.SCHEME_NAMES for {sorted(unnamed)}"
    assert len(set(SCHEME_NAMES.values())) == len(SCHEME_NAMES)  # one name, one scheme


def _cdf_points(n_kinds: int, n_thr: int) -> pd.DataFrame:
    from cuhlm_sim.metrics.compute import LATENCY_CDF_PROBS

    rows = []
    for k in ["hlm", "uhlm", "cuhlm"][:n_kinds]:
        for i in range(n_thr):
            row = {"policy.kind": k, "policy.threshold": round(0.05 * i, 2)}
            for q in LATENCY_CDF_PROBS:
                col = f"token_latency_quantiles_s.q{round(q * 100):02d}"
                row[f"{col}_mean"] = 0.05 * (1 + q) * (1 + i)
                row[f"{col}_ci95"] = 0.2  # wider than the low quantiles: must clip at 0 s
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "n_kinds, n_thr, panel_titles",
    [
        (1, 5, [""]),
        (1, 10, ["points 1–5 of 10", "points 6–10 of 10"]),
        (2, 6, ["scheme = HLM", "scheme = U-HLM"]),
        (3, 4, ["scheme = HLM", "scheme = U-HLM", "scheme = CU-HLM"]),
    ],
)
def test_latency_cdf_draws_every_curve(n_kinds, n_thr, panel_titles):
    from cuhlm_sim.experiments.plots import latency_cdf_figure

    points = _cdf_points(n_kinds, n_thr)
    fig = latency_cdf_figure(points, ["policy.kind", "policy.threshold"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    curves = [ln for ax in axes for ln in ax.get_lines()]
    assert len(curves) == len(points)  # nothing dropped
    for ax in axes:
        assert len(ax.get_lines()) <= 8
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == [ln.get_label() for ln in ax.get_lines()]
        for poly in ax.collections:  # every band starts at >= 0 s
            assert poly.get_paths()[0].vertices[:, 0].min() >= 0.0
    assert [ax.get_title() for ax in axes] == panel_titles


def _capacity_json() -> dict:
    """Two SNR values; per count the three repetitions' p95 latencies (SLO <= 1.5 s)."""

    def ev(n, passed, values):
        mean = None if None in values else float(np.mean(values))
        return {"devices": n, "passed": passed,
                "metrics": {"p95_token_latency_s": {"mean": mean, "values": values}}}  # fmt: skip

    entries = [
        {   # capacity 6: reps pass up to 6, 4 (fails 6) and 7 (fails 8)
            "key": "channel.snr_db", "value": 0, "params": {"channel.snr_db": 0},
            "capacity": 6, "lower": 6, "upper": 7, "capped": False,
            "evaluations": [
                ev(1, True, [0.1, 0.1, 0.1]), ev(2, True, [0.2, 0.2, 0.2]),
                ev(4, True, [0.5, 1.2, 0.4]), ev(8, False, [2.0, 2.5, 1.6]),
                ev(6, True, [1.4, 1.7, 0.9]), ev(7, False, [1.6, None, 1.4]),
            ],
        },
        {   # capacity 2: one rep fails already at 2 (bracket [1, 2)), another never fails
            "key": "channel.snr_db", "value": 10, "params": {"channel.snr_db": 10},
            "capacity": 2, "lower": 2, "upper": 3, "capped": False,
            "evaluations": [
                ev(1, True, [0.1, 0.1, 0.1]), ev(2, True, [1.0, 1.6, 1.0]),
                ev(4, False, [3.0, 3.0, 1.0]), ev(3, False, [1.6, 2.0, 1.2]),
            ],
        },
    ]  # fmt: skip
    return {"slos": ["p95_token_latency_s<=1.5"], "repetitions": 3, "entries": entries}


def test_repetition_capacities_from_the_stored_evaluations():
    from cuhlm_sim.experiments.capacity import parse_slo, repetition_capacities

    slo = [parse_slo("p95_token_latency_s<=1.5")]
    first, second = _capacity_json()["entries"]
    # rep 1 fails at 7 with a failed run (null): its first failure is 6 anyway
    assert repetition_capacities(first, slo) == [(6, 7), (4, 6), (7, 8)]
    assert repetition_capacities(second, slo) == [(2, 3), (1, 2), (4, None)]


def test_capacity_figure_title_integer_ticks_and_repetition_bars():
    from cuhlm_sim.experiments.plots import capacity_figure

    fig = capacity_figure(_capacity_json())
    (ax,) = fig.axes
    assert ax.get_title() == (
        "Capacity: most devices with p95 token latency ≤ 1.5 s\n"
        "(mean of 3 repetitions; bars: range of single repetitions)"
    )
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    (bars,) = ax.containers
    small = _capacity_json()
    for e, c in zip(small["entries"], (1, 2), strict=True):  # too few devices for default ticks
        e.update(capacity=c, lower=c, upper=c + 1, evaluations=[])
    small_ax = capacity_figure(small).axes[0]
    small_ticks = [t for t in small_ax.get_yticks() if 0 <= t <= small_ax.get_ylim()[1]]
    assert small_ticks and all(float(t).is_integer() for t in small_ticks)
    segments = bars.lines[2][0].get_segments()
    spans = sorted((float(s[0, 0]), float(s[:, 1].min()), float(s[:, 1].max())) for s in segments)
    # SNR 0: reps' capacities 6, 4..5, 7 -> [4, 7]; SNR 10: 2, 1, >= 4 -> [1, 4]
    assert spans == [(0.0, 4.0, 7.0), (10.0, 1.0, 4.0)]


def test_every_summary_metric_declares_its_range(write_scenario):
    from cuhlm_sim.config import load_scenario
    from cuhlm_sim.experiments.plots import metric_range
    from cuhlm_sim.experiments.results import flatten_summary
    from cuhlm_sim.runner import run_scenario

    summary = run_scenario(load_scenario(write_scenario())).summary
    numeric = {k: v for k, v in summary.items() if isinstance(v, int | float | dict)}
    metrics = flatten_summary(numeric)  # a null (e.g. a note) may be no metric: skipped
    assert len(metrics) > 40
    undeclared = [m for m in metrics if metric_range(m)[0] == -np.inf]
    assert undeclared == []


@pytest.mark.parametrize("missing", ["matplotlib", "seaborn"])
def test_without_the_plots_extra_the_user_is_told_what_to_install(tmp_path, monkeypatch, missing):
    from typer.testing import CliRunner

    from cuhlm_sim.cli import app

    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    res = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "pip install -e '.[plots]'" in res.stderr and res.stderr.count("\n") == 1
