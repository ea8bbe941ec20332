"""The scenario loader never crashes (issue 14): whatever YAML a user writes and whatever
``--set`` they pass, ``load_scenario`` returns a Scenario or raises ScenarioError whose every
line names the file (or ``--set``) and the field; no other exception, no traceback.

Hypothesis writes documents from the real key paths (``cuhlm keys``) plus invented ones, with
values of every type: None, booleans, huge and negative integers, nan and inf, strings,
lists and mappings; and raw text that is rarely valid YAML at all.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cuhlm_sim.config.load import load_scenario
from cuhlm_sim.config.reference import scenario_reference_rows
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import CuhlmError, ScenarioError

KEYS = [key for key, *_ in scenario_reference_rows()]
SECTIONS = sorted({key.split(".")[0] for key in KEYS if "." in key})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, -1, 2**31, 2**63, -(2**63), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 1e308, -1e308]),
    st.text(max_size=12),
    st.sampled_from(["auto", "hlm", "uhlm", "cuhlm", "fixed", "per_device", "null", "~", "1e6"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
paths = st.one_of(
    st.sampled_from(KEYS),
    st.sampled_from(SECTIONS),
    st.builds(lambda s, k: f"{s}.{k}", st.sampled_from(SECTIONS), st.text(max_size=8)),
    st.text(max_size=16),
)


def _nest(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """A document with each dotted path set (a later path may replace an earlier section)."""
    doc: dict[str, Any] = {}
    for path, value in items:
        node = doc
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return doc


def _check(path: Path, overrides: list[str], seed: int | None = None) -> None:
    try:
        scn = load_scenario(path, overrides, seed=seed)
    except CuhlmError as exc:
        assert isinstance(exc, ScenarioError), type(exc)
        message = str(exc)
        assert message.strip(), "an empty message"
        for line in message.splitlines():  # one line per problem, each naming its source
            assert line.startswith((str(path), "--set")), line
            assert "Traceback" not in line
        return
    assert isinstance(scn, Scenario)
    for name in ("duration_s", "warmup_s"):
        value = getattr(scn, name)
        assert value == "auto" or math.isfinite(value)


def _load(text: str, overrides: Sequence[str] = (), seed: int | None = None) -> None:
    """Write ``text`` as a scenario file in a temporary folder (removed after) and check it."""
    with tempfile.TemporaryDirectory(prefix="cuhlm-fuzz-") as folder:
        path = Path(folder) / "s.yaml"
        path.write_text(text, encoding="utf-8")
        _check(path, list(overrides), seed)


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(items=st.lists(st.tuples(paths, values), min_size=1, max_size=8))
def test_random_documents(items):
    doc = _nest(items)
    _load(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(
    base=st.lists(st.tuples(st.sampled_from(KEYS), scalars), max_size=4),
    sets=st.lists(st.tuples(paths, st.text(max_size=20)), min_size=1, max_size=4),
    seed=st.one_of(st.none(), st.integers(min_value=-(10**20), max_value=10**20)),
)
def test_random_overrides(base, sets, seed):
    doc = _nest(base) or {"name": "fuzz"}
    _load(yaml.safe_dump(doc, allow_unicode=True), [f"{key}={raw}" for key, raw in sets], seed)


@FUZZ
@given(text=st.text(max_size=200))
def test_random_text(text):
    _load(text)


@FUZZ
@given(
    lines=st.lists(
        st.builds(
            lambda key, raw: f"{key}: {raw}",
            st.sampled_from(KEYS + SECTIONS),
            st.sampled_from(
                [
                    ".nan",
                    ".inf",
                    "-.inf",
                    "1e999",
                    "-1",
                    "0",
                    "[]",
                    "{}",
                    "[.nan, 1]",
                    "&a 1",
                    "*a",
                    "!!python/object:os.system",
                    "!!binary aGk=",
                    "2001-12-14",
                    "0x1F",
                    "1_000",
                    "yes",
                    "no",
                    "'",
                    "[1, 2",
                    "|",
                    "? x",
                    "@",
                    "%YAML 1.2",
                    "9" * 5000,
                    "-" + "9" * 5000 + ".5",
                    "1e-400",
                ]
            ),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_hand_picked_yaml_oddities(lines):
    _load("\n".join(lines) + "\n")
