"""Read a scenario YAML file, apply ``--set key=value`` overrides, validate.

Every failure becomes one :class:`~cuhlm_sim.errors.ScenarioError` naming the file, the dotted
field path, what was expected and the value that was given.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import ScenarioError


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e6`` as a float (YAML 1.1 would read it as a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """Parse ``key.sub=value`` strings; values are YAML scalars (``1e6``, ``null``, ``[1, 2]``)."""
    parsed: list[tuple[str, Any]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE with a dotted KEY")
        try:
            value = yaml.load(raw, Loader=_Loader) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ScenarioError(f"--set {key}: value {raw!r} is not valid YAML ({exc})") from None
        parsed.append((key, value))
    return parsed


def apply_overrides(data: dict[str, Any], overrides: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Return a copy of ``data`` with each dotted key set; unknown keys are caught by the schema."""
    out = copy.deepcopy(data)
    for key, value in overrides:
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ScenarioError(f"--set {key}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem: ``source: field.path: message (got value)``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/scenario.md)"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        got = err.get("input")
        got_txt = "" if isinstance(got, Mapping) or err["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{source}: {loc}: {msg}{got_txt}")
    return "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax errors into ScenarioError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario file ({exc})") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}: YAML syntax error{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: (top level): expected a mapping of keys, got {type(data).__name__}"
        )
    return data


def load_scenario(
    path: str | Path,
    overrides: Iterable[str] = (),
    *,
    seed: int | None = None,
) -> Scenario:
    """Load and validate a scenario; relative ``trace.path`` in the file is relative to the file,
    in an override it is relative to the working directory."""
    path = Path(path)
    data = read_yaml(path)
    parsed = parse_overrides(overrides)
    if seed is not None:
        parsed.append(("seed", seed))
    trace = data.get("trace")
    if isinstance(trace, dict) and isinstance(trace.get("path"), str):
        file_trace = Path(trace["path"]).expanduser()
        if not file_trace.is_absolute():
            trace = dict(trace, path=str(path.parent / file_trace))
            data = dict(data, trace=trace)
    data = apply_overrides(data, parsed)
    source = str(path) + (" (with --set)" if parsed else "")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(source, exc)) from None
