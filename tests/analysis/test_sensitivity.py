"""analysis/sensitivity.py: the ranking and its verdict, on capacities chosen by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"


@pytest.fixture(scope="module")
def sens():
    sys.path.insert(0, str(ANALYSIS))  # the script imports its sibling make_figures
    try:
        import sensitivity

        yield sensitivity
    finally:
        sys.path.remove(str(ANALYSIS))


def test_ranking_ties_within_one_device(sens):
    assert sens.ranking({"hlm": 18, "uhlm": 17, "cuhlm": 41}) == "cuhlm > hlm ~ uhlm"
    assert sens.ranking({"hlm": 13, "uhlm": 15, "cuhlm": 34}) == "cuhlm > uhlm > hlm"


def test_cell_overrides(sens):
    assert sens.cell_overrides(0.0, 0.0) == {
        "devices.slm_latency_dist": "fixed",
        "server.llm_latency_dist": "fixed",
        "channel.model": "fixed",
    }
    jit = sens.cell_overrides(0.3, 3.0)
    assert jit["devices.slm_latency_cv"] == jit["server.llm_latency_cv"] == 0.3
    assert jit["channel.spread_db"] == 3.0


def test_report_names_a_reversal_and_only_a_reversal(sens):
    spec = {
        "variants": {"hlm": {}, "uhlm": {}},
        "over": {"channel.snr_db": [5, 25]},
        "repetitions": 2,
        "set": {"duration_s": 300.0},
    }
    rows = [
        # 5 dB: a tie and a 2-device lead for uhlm: no reversal
        {"cv": 0.0, "spread": 0.0, "snr": 5, "scheme": "hlm", "capacity": 7},
        {"cv": 0.0, "spread": 0.0, "snr": 5, "scheme": "uhlm", "capacity": 7},
        {"cv": 0.3, "spread": 0.0, "snr": 5, "scheme": "hlm", "capacity": 5},
        {"cv": 0.3, "spread": 0.0, "snr": 5, "scheme": "uhlm", "capacity": 7},
        # 25 dB: hlm leads by 3 without jitter, uhlm by 2 with it
        {"cv": 0.0, "spread": 0.0, "snr": 25, "scheme": "hlm", "capacity": 31},
        {"cv": 0.0, "spread": 0.0, "snr": 25, "scheme": "uhlm", "capacity": 28},
        {"cv": 0.3, "spread": 0.0, "snr": 25, "scheme": "hlm", "capacity": 23},
        {"cv": 0.3, "spread": 0.0, "snr": 25, "scheme": "uhlm", "capacity": 25},
    ]
    text = sens.report(rows, spec)
    assert "- 5 dB: holds in every cell" in text
    assert "- 25 dB: hlm > uhlm at cv 0/spread 0; uhlm > hlm at cv 0.3/spread 0" in text
    assert "| 0.3 | 0 | 25 | 23 | 25 | uhlm > hlm |" in text
