"""Every closed-form case of the validation table (the rows analysis/validation.md reports),
run once at its own length and held to its tolerance. The expected values are the table's
closed forms, written there once; nothing here re-runs a production formula."""

from __future__ import annotations

from pathlib import Path

import pytest

from cuhlm_sim.experiments.validation.table import CLOSED_FORMS, Case
from cuhlm_sim.runner import run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
LITTLE = next(c for c in CLOSED_FORMS if c.key == "little")

CASES = [pytest.param(c, id=c.key) for c in CLOSED_FORMS]
# Little's law must hold whatever the policy: also with skipped tokens.
CASES.append(pytest.param(LITTLE.with_sections({"policy": {"kind": "uhlm"}}), id="little_uhlm"))


@pytest.mark.parametrize("case", CASES)
def test_closed_form_case(trace, case: Case):
    scn = case.scenario(SCENARIOS)
    run = run_scenario(scn, trace=trace).summary
    for check in case.checks:
        expected = check.expected(scn, [run])
        assert check.measured(run) == pytest.approx(expected, rel=check.rel_tol), check.name


def test_the_table_checks_what_the_report_names():
    """Every check has a name, a formula and a tolerance; names are unique (the report's rows)."""
    names = [ch.name for c in CLOSED_FORMS for ch in c.checks]
    assert len(names) == len(set(names)) >= 14
    assert all(ch.formula and 0 < ch.rel_tol <= 0.05 for c in CLOSED_FORMS for ch in c.checks)
