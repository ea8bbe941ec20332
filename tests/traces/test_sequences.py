"""Sequence boundaries and recorded times of a loaded trace, checked against the raw file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cuhlm_sim.traces.io import load_trace
from tests.conftest import REAL_TRACE


def test_sequences_match_the_file():
    df = pd.read_parquet(REAL_TRACE)
    trace = load_trace(REAL_TRACE)
    sizes = df.groupby("seq_id", sort=False).size()
    assert trace.num_sequences == len(sizes)
    assert np.array_equal(trace.seq_lengths(), sizes.to_numpy())
    first = df.groupby("seq_id", sort=False).head(1)
    assert [trace.prompt_names[i] for i in trace.seq_prompt] == first["prompt_id"].tolist()
    assert np.allclose(trace.t_draft_ms, df["t_draft_ms"].to_numpy(np.float64))
    assert np.allclose(trace.t_target_ms, df["t_target_ms"].to_numpy(np.float64))


def test_selecting_a_kind_keeps_whole_sequences():
    df = pd.read_parquet(REAL_TRACE)
    trace = load_trace(REAL_TRACE)
    code = trace.select(trace.kind == trace.kind_names.index("prose"))
    sizes = df[df["kind"] == "prose"].groupby("seq_id", sort=False).size()
    assert np.array_equal(code.seq_lengths(), sizes.to_numpy())
    assert code.seq_start[-1] == code.num_rows
