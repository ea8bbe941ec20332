"""Output that stays readable in an 80-column terminal or a pipe (issue 14): ``cuhlm keys``
split key names mid-word and ``traces fit`` / ``traces list`` cut numbers to ``0.4…``. Now
no key name, type or number is cut, and no line is wider than the terminal."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from cuhlm_sim.cli import app
from cuhlm_sim.config.reference import scenario_reference_rows


@pytest.fixture(params=[80, 60])
def narrow(request, monkeypatch):
    """Every console of the CLI at ``width`` columns, as in a narrow terminal."""
    import cuhlm_sim.cli.common as common
    import cuhlm_sim.cli.scenario as scenario
    import cuhlm_sim.cli.traces as traces

    console = Console(width=request.param)
    for module in (common, scenario, traces):
        monkeypatch.setattr(module, "console", console)
    return request.param


def _lines(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= width, max(lines, key=len)
    assert "…" not in text
    return lines


def test_keys_never_split_a_key_or_a_word(cli_runner, narrow):
    res = cli_runner.invoke(app, ["keys"])
    assert res.exit_code == 0, res.output
    lines = _lines(res.stdout, narrow)
    text = " ".join(line.strip() for line in lines)
    for key, type_, default, description in scenario_reference_rows():
        starts = [i for i, line in enumerate(lines) if line.startswith(f"{key} (")]
        assert len(starts) == 1, key
        assert f"{key} ({type_}, default {default})" in text, key
        assert " ".join(description.split()) in text, key


def test_fit_prints_every_number_whole(cli_runner, tiny_trace, narrow):
    from cuhlm_sim.traces.fit import fit_trace

    res = cli_runner.invoke(app, ["traces", "fit", str(tiny_trace), "--by-kind"])
    assert res.exit_code == 0, res.output
    _lines(res.stdout, narrow)
    flat = re.sub(r"\s+", " ", res.stdout)
    for name, r in fit_trace(tiny_trace, by_kind=True).items():
        assert name in flat
        for value in (r.a, r.b, r.r2, r.delta, r.u_th_averse, r.u_th_prone):
            assert f"{value:.3f}" in res.stdout, (name, value)
        if narrow >= 80:  # intervals on one line of their cell
            for lo, hi in (r.a_ci, r.b_ci):
                assert f"[{lo:.3f}, {hi:.3f}]" in res.stdout


def test_list_prints_every_number_whole(cli_runner, tiny_trace, tmp_path, narrow):
    folder = tmp_path / "traces"
    folder.mkdir()
    tiny_trace.rename(folder / "tiny.parquet")
    res = cli_runner.invoke(app, ["traces", "list", str(folder)])
    assert res.exit_code == 0, res.output
    lines = _lines(res.stdout, narrow)
    assert lines[0] == "tiny.parquet"
    for text in ("rows 2,000", "accept 0.", "fit a 0.", "importance no"):
        assert text in res.stdout
