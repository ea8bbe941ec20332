"""``cuhlm traces list``: one catalogue line per trace file, numbers computed from the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.traces.conftest import write_prompts

pytestmark = pytest.mark.traces


@pytest.fixture(scope="module")
def folder(tiny_pair: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two traces (a tiny real one at T = 0.8, a synthetic one in a subfolder), an unfinished
    run's parts folder and a Parquet file that is not a trace."""
    from cuhlm_sim.traces.generate import GenerateOptions, generate
    from cuhlm_sim.traces.io import write_trace
    from cuhlm_sim.traces.synth import SynthParams, synth_table

    root = tmp_path_factory.mktemp("catalogue")
    opts = GenerateOptions(
        prompts_file=str(write_prompts(root / "p.jsonl", n=5)),
        prompts_per_kind=None,
        max_new_tokens=12,
        k_grid=(1, 2, 4, 64),
        threads=1,
        batch_size=2,
        temperature_draft=0.8,
        temperature_target=0.8,
    )
    generate(opts, root / "tiny.parquet", pair=tiny_pair, progress=False)
    table, meta = synth_table(SynthParams(num_rows=500), 0)
    write_trace(table, root / "more" / "synthetic.parquet", meta)
    shutil.copytree(root / "tiny.parquet.parts", root / "other.parquet.parts")
    pq.write_table(pa.table({"x": [1, 2]}), root / "notes.parquet")
    return root


def test_list_shows_every_trace_with_its_numbers(
    folder: Path, tiny_pair: Any, monkeypatch: Any
) -> None:
    from cuhlm_sim.cli import app, common
    from cuhlm_sim.traces.fit import fit_frame
    from cuhlm_sim.traces.inspect import read_trace

    r = CliRunner().invoke(app, ["traces", "list", str(folder), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    entries = {e["file"]: e for e in got["traces"]}
    assert sorted(entries) == ["more/synthetic.parquet", "tiny.parquet"]
    assert [Path(p).name for p, _ in got["skipped"]] == ["notes.parquet"]
    for name, e in entries.items():
        df, _, _ = read_trace(folder / name)
        assert e["rows"] == len(df)
        assert e["accept_rate"] == pytest.approx(df["accepted"].mean())
        assert e["mean_alpha"] == pytest.approx(df["overlap_alpha"].mean())
        fit = fit_frame(df)
        assert (e["fit_a"], e["fit_b"]) == pytest.approx((fit.a, fit.b))
        per_kind = df.groupby("kind")["prompt_id" if "prompt_id" in df else "seq_id"].nunique()
        assert e["prompts_per_kind"] == {k: int(v) for k, v in per_kind.items()}
    tiny = entries["tiny.parquet"]
    assert tiny["pair"] == "draft → target" and tiny["device"] == "cpu"
    assert tiny["temperature_draft"] == tiny["temperature_target"] == 0.8
    ratio = tiny_pair.target_info["params"] / tiny_pair.draft_info["params"]
    assert tiny["size_ratio"] == pytest.approx(ratio) and tiny["size_basis"] == "params"
    assert ratio > 1 and not tiny["importance"]
    assert entries["more/synthetic.parquet"]["size_ratio"] is None

    monkeypatch.setattr(common.console, "width", 220)  # one line per trace
    table = CliRunner().invoke(app, ["traces", "list", str(folder)])
    assert table.exit_code == 0, table.output
    for text in ("tiny.parquet", "synthetic.parquet", "draft → target", "skipped", "0.8"):
        assert text in table.stdout
    assert f"{tiny['rows']:,}" in table.stdout and f"{tiny['fit_a']:.3f}" in table.stdout


def test_list_of_a_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    from cuhlm_sim.cli import app

    r = CliRunner().invoke(app, ["traces", "list", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such folder" in r.stderr


def test_size_ratio_falls_back_to_file_bytes() -> None:
    """Traces made before parameter counts were recorded (the shipped one) use file sizes."""
    from cuhlm_sim.traces.catalogue import _size_ratio

    meta = {"draft_model": {"bytes": 100}, "target_model": {"bytes": 250}}
    assert _size_ratio(meta) == (2.5, "bytes")
    meta["draft_model"]["params"], meta["target_model"]["params"] = 10, 40
    assert _size_ratio(meta) == (4.0, "params")
