"""Figures: each kind is drawn when its axis was swept (PNG and PDF), refused otherwise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cuhlm_sim.errors import CuhlmError
from cuhlm_sim.experiments.plots import energy_metrics, label, plot_dir, read_sweep_dir
from cuhlm_sim.experiments.sweep import InProcessExecutor, load_sweep, run_sweep

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


@pytest.mark.parametrize("missing", ["matplotlib", "seaborn"])
def test_without_the_plots_extra_the_user_is_told_what_to_install(tmp_path, monkeypatch, missing):
    from typer.testing import CliRunner

    from cuhlm_sim.cli import app

    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    res = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "pip install -e '.[plots]'" in res.stderr and res.stderr.count("\n") == 1
