"""Restructuring must not move results: every golden cell gives the stored summary.

The stored values were produced by the code at ``model_revision``; a refactoring keeps them
(floats to 1e-12 relative, which leaves room for one-ulp differences of vectorised math
between CPUs and nothing else), a model change bumps ``MODEL_REVISION`` and regenerates them
(``python tests/golden/regen.py``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, load_golden, run_case

from cuhlm_sim import MODEL_REVISION

GOLD = load_golden()


def _same(a, b, path: str) -> list[str]:
    """Differences of ``a`` (now) from ``b`` (stored). A new summary key is not a difference
    (a new metric leaves the others alone); a missing or changed one is."""
    if isinstance(b, dict):
        if not isinstance(a, dict) or not b.keys() <= a.keys():
            return [f"{path}: keys {sorted(a) if isinstance(a, dict) else a} lack {sorted(b)}"]
        return [m for k in b for m in _same(a[k], b[k], f"{path}.{k}")]
    if isinstance(b, list):
        if not isinstance(a, list) or len(a) != len(b):
            return [f"{path}: length differs"]
        return [m for i, (x, y) in enumerate(zip(a, b, strict=True)) for m in _same(x, y, path)]
    if isinstance(b, float) and isinstance(a, float):
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_golden_file_matches_the_model_revision():
    assert GOLD["model_revision"] == MODEL_REVISION, (
        "MODEL_REVISION changed: regenerate with python tests/golden/regen.py"
    )
    assert set(GOLD["cases"]) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_golden(name):
    got = run_case(name)
    want = GOLD["cases"][name]
    diffs = _same(got["summary"], want["summary"], "summary")
    diffs += _same(got["devices"], want["devices"], "devices")
    assert not diffs, "\n".join(diffs[:20])


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_run_reporting_progress_gives_the_same_bytes(name):
    """The progress bar stops the SimPy loop a thousand times; every number, the event count
    included, must come out exactly as in one uninterrupted run, and as stored."""
    seen: list[float] = []

    def progress(now: float, end: float) -> None:
        assert 0 < now <= end
        seen.append(now)

    got = run_case(name, progress=progress)
    plain = run_case(name)
    # Byte for byte: JSON keeps every float's exact repr (and NaN, which == would not match).
    assert json.dumps(got, sort_keys=True) == json.dumps(plain, sort_keys=True)
    assert _same(got["summary"], GOLD["cases"][name]["summary"], "summary") == []
    assert len(seen) > 100 and seen == sorted(seen)
