"""analysis/validate.py on tiny settings: the tables have their rows and columns, numbers are
finite, and the real-trace rows say so when the trace is missing. Papers, claims and closed
forms come from the validation table, as the report's do."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cuhlm_sim.experiments.validation.table import CLAIMS, CLOSED_FORMS, PAPERS

SCRIPT = Path(__file__).resolve().parents[2] / "analysis" / "validate.py"


@pytest.fixture(scope="module")
def validate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cuhlm_validate_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


NAMES = tuple(p.name for p in PAPERS)
HEADER = "| claim | paper | trace | ours (95 % CI) | scenario (+ overrides) | gap |"


def test_report_with_real_trace(validate, tiny_trace: Path):
    rep = validate.build(validate.QUICK, real_trace=tiny_trace)
    for paper in NAMES:
        rows = [c for c in rep.claims if c.paper == paper]
        assert {c.trace.split(" ")[0] for c in rows} == {"synthetic", "real"}
        assert all(c.missing is None and c.ours is not None for c in rows)
    assert all(math.isfinite(x) for x in validate.all_numbers(rep))
    assert all(c.ours.n == validate.QUICK.seeds for c in rep.claims)
    # every claim of the table is a row on the real trace, every closed form a row
    real = [c for c in rep.claims if c.trace.startswith("real")]
    assert {c.key for c in real} <= {c.key for c in CLAIMS}
    assert len({c.key for c in real}) >= len(CLAIMS) - 1  # the TV row needs topk_tv_out
    checks = [c.check for c in rep.closed]
    assert [ch.name for case in CLOSED_FORMS for ch in case.checks] == checks[: len(checks) - 5]
    assert "bound" in " ".join(checks[-5:])
    for c in rep.closed:
        assert math.isfinite(c.expected) and math.isfinite(c.rel_error)
    shannon = [c for c in rep.closed if c.check.startswith("Shannon")]
    assert all(abs(c.rel_error) < 1e-6 for c in shannon)
    snrs = {(p.paper, p.trace.split(" ")[0], p.snr_db) for p in rep.snr}
    assert len(snrs) == 2 * 2 * len(validate.QUICK.snr_grid)

    text = validate.render(rep)
    assert text.count(HEADER) == 3
    assert "do not edit by hand" in text.lower()
    assert "## Summary" in text
    for section in ("## U-HLM", "## CU-HLM", "## Importance", "## Gain vs SNR", "## Closed-form"):
        assert section in text
    # analysis/sensitivity.md (committed) is quoted whole under its own section
    sens = validate.PATHS.sensitivity.read_text(encoding="utf-8").strip()
    assert "## Sensitivity" in text and sens in text
    assert validate.NOT_AVAILABLE not in text
    paper_sections = text.split("\n## ")[2:5]  # after the summary
    claim_lines = [ln for sec in paper_sections for ln in sec.splitlines() if ln.startswith("| ")]
    assert len(claim_lines) == len(rep.claims) + 3  # + one header per table
    for line in claim_lines:
        assert "n/a" not in line.split(" | ")[3]


def test_real_trace_missing_is_marked(validate, tmp_path: Path):
    settings = validate.QUICK
    rep = validate.build(settings, real_trace=tmp_path / "absent.parquet")
    real = [c for c in rep.claims if c.trace.startswith("real")]
    assert real and all(c.missing == validate.NOT_AVAILABLE for c in real)
    assert not any(p.trace.startswith("real") for p in rep.snr)
    out = tmp_path / "validation.md"
    assert (
        validate.main(["--quick", "--real-trace", str(tmp_path / "absent"), "--out", str(out)]) == 0
    )
    text = out.read_text(encoding="utf-8")
    assert validate.NOT_AVAILABLE in text
    assert text.count(HEADER) == 3


def test_unchanged_results_leave_the_report_byte_identical(validate, tmp_path: Path, monkeypatch):
    """A second run with the same results keeps the file (its stamp included); a changed
    result rewrites it, stamp and all."""
    out = tmp_path / "validation.md"
    args = ["--quick", "--real-trace", str(tmp_path / "absent"), "--out", str(out)]
    monkeypatch.setattr(validate, "_git_head", lambda: "aaaaaaa")
    assert validate.main(args) == 0
    first = out.read_bytes()
    assert b"at commit `aaaaaaa`" in first

    monkeypatch.setattr(validate, "_git_head", lambda: "bbbbbbb")  # another commit, later
    assert validate.main(args) == 0
    assert out.read_bytes() == first

    assert validate.main([*args, "--seeds", "3"]) == 0  # other results
    third = out.read_text(encoding="utf-8")
    assert "at commit `bbbbbbb`" in third and "Each point uses 3 seeds" in third


def test_write_report_compares_everything_but_the_stamp(validate, tmp_path: Path):
    out = tmp_path / "v.md"
    old = (
        "# T\n\n**Generated** by x on 2026-01-01 00:00 UTC at commit `a` (1 runs, 3 s).\n\n| 1 |\n"
    )
    same = old.replace("2026-01-01", "2027-02-02").replace("`a`", "`b`").replace("3 s", "9 s")
    moved = same.replace("| 1 |", "| 2 |")
    assert validate.write_report(old, out) is True
    assert validate.write_report(same, out) is False
    assert out.read_text(encoding="utf-8") == old
    assert validate.write_report(moved, out) is True
    assert out.read_text(encoding="utf-8") == moved
