"""One trace validation for every command that reads a trace (issue 14): ``traces inspect``
and ``traces fit`` used to print NaN tables for a file that ``cuhlm run`` rejects. Now each
bad file gets the same one-line reason, naming the file, the column, how many rows and the
first one, from ``run``, ``validate``, ``inspect``, ``fit`` and ``report``; ``list`` skips it
with that reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cuhlm_sim.cli import app


def _spoil(src: Path, dst: Path, column: str, row: int, value, drop: tuple[str, ...] = ()) -> Path:
    """A copy of the trace ``src`` with ``column[row] = value`` (None: a missing value)."""
    table = pq.read_table(src)
    for name in drop:
        table = table.drop_columns([name])
    col = table.column(column).combine_chunks()
    if pa.types.is_fixed_size_list(col.type):
        g = col.type.list_size
        flat = np.asarray(col.flatten(), dtype=np.float32).reshape(-1, g).copy()
        flat[row, 0] = value
        new = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), g)
    else:
        values = col.to_pylist()
        values[row] = value
        new = pa.array(values, type=col.type)
    table = table.set_column(table.column_names.index(column), column, new)
    pq.write_table(table, dst)
    return dst


#: (column, row, value, columns dropped, words of the message)
DEFECTS = {
    "nan uncertainty": ("uncertainty", 7, float("nan"), ("u_count",), "1 row(s)", "row 7", "nan"),
    "u above 1": ("uncertainty", 3, 1.5, ("u_count",), "row 3", "1.5"),
    "nan accept_prob": ("accept_prob", 11, float("nan"), (), "row 11"),
    "negative p_draft": ("p_draft", 0, -0.25, (), "row 0", "-0.25"),
    "inf entropy": ("entropy", 5, float("inf"), (), "[0, inf]", "row 5"),
    "nan in a per-k column": ("topk_accept_prob", 9, float("nan"), (), "row 9"),
    "missing accepted": ("accepted", 2, None, (), "missing value"),
}


@pytest.fixture(params=sorted(DEFECTS))
def bad_trace(request, tiny_trace, tmp_path):
    column, row, value, drop, *words = DEFECTS[request.param]
    path = _spoil(tiny_trace, tmp_path / "bad.parquet", column, row, value, drop)
    return path, column, words


COMMANDS = {
    "run": lambda scn, trace, tmp: ["run", scn, "--out", tmp / "o", "-q"],
    "validate": lambda scn, trace, tmp: ["validate", scn],
    "inspect": lambda scn, trace, tmp: ["traces", "inspect", trace],
    "fit": lambda scn, trace, tmp: ["traces", "fit", trace],
    "report": lambda scn, trace, tmp: ["traces", "report", trace],
}


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_every_reader_refuses_a_bad_trace_with_the_same_reason(
    cli_runner, write_scenario, bad_trace, tmp_path, cmd
):
    trace, column, words = bad_trace
    scn = write_scenario(trace={"path": str(trace)})
    args = [str(a) for a in COMMANDS[cmd](scn, trace, tmp_path)]
    res = cli_runner.invoke(app, args)
    assert res.exit_code == 2, (cmd, res.output, res.exception)
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in res.output, err
    assert str(trace) in err and f"column {column}" in err, err
    for word in words:
        assert word in err, (word, err)
    assert "nan" not in res.stdout.lower()
    assert not (tmp_path / "o").exists()


def test_list_skips_a_bad_trace_and_says_why(cli_runner, tiny_trace, tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    _spoil(tiny_trace, folder / "bad.parquet", "accept_prob", 4, float("nan"))
    res = cli_runner.invoke(app, ["traces", "list", str(folder)])
    assert res.exit_code == 0, res.output
    assert "skipped" in res.stdout and "column accept_prob" in res.stdout


def test_an_empty_trace_is_refused_by_every_reader(
    cli_runner, write_scenario, tiny_trace, tmp_path
):
    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(tiny_trace).slice(0, 0), empty)
    scn = write_scenario(trace={"path": str(empty)})
    for cmd, make in COMMANDS.items():
        res = cli_runner.invoke(app, [str(a) for a in make(scn, empty, tmp_path)])
        assert res.exit_code == 2 and "holds no rows" in res.stderr, (cmd, res.output)


def test_the_shipped_traces_pass(cli_runner):
    root = Path(__file__).resolve().parents[2] / "traces"
    for trace in sorted(root.glob("*.parquet")):
        res = cli_runner.invoke(app, ["traces", "inspect", str(trace)])
        assert res.exit_code == 0, (trace, res.output)
