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
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from cuhlm_sim.config.kinds import Kinds, one_of, section_kinds, when_fields
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.errors import ScenarioError


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e6`` as a float (YAML 1.1 would read it as a string) and
    refuses a key written twice in one mapping (plain YAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (lines {seen[key]} and {line})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    """An integer, or a YAML error for one too long for Python to read (4,300 digits)."""
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {len(node.value)} digits is too long", node.start_mark
        ) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's reason in one line (its str() adds the offending text and a caret on
    further lines)."""
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    return " ".join(str(problem).split())


def _short(value: object, limit: int = 60) -> str:
    """repr of a value a message quotes, cut to ``limit`` characters (a 400-digit number)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def shown(name: object) -> str:
    """A key as a message shows it: as written, or quoted with escapes when it is empty or
    holds a line break or another unprintable character (a message stays one line)."""
    text = str(name)
    return text if text and text.isprintable() else repr(text)


def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """Parse ``key.sub=value`` strings; values are YAML scalars (``1e6``, ``null``, ``[1, 2]``)."""
    parsed: list[tuple[str, Any]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE with a dotted KEY")
        if not key.isprintable():
            raise ScenarioError(f"--set {item!r}: the key holds an unprintable character")
        parsed.append((key, parse_value(raw, f"--set {key}")))
    return parsed


def parse_value(raw: str, what: str) -> Any:
    """One command-line value read as YAML by the scenario files' rules (``1e6`` a float, an
    over-long integer refused); ``what`` (``--set KEY``) starts the one-line error."""
    try:
        return yaml.load(raw, Loader=_Loader) if raw.strip() else None
    except yaml.YAMLError as exc:
        short = raw if len(raw) <= 40 else f"{raw[:37]}..."
        raise ScenarioError(
            f"{what}: value {short!r} is not valid YAML ({yaml_problem(exc)})"
        ) from None


def apply_overrides(data: dict[str, Any], overrides: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Return a copy of ``data`` with each dotted key set; unknown keys are caught by the schema.

    An override that changes a kind (``channel.model``, ``channel.fading``, ``policy.kind``...)
    also drops the keys ``data`` had for the kind it replaces: they were written for that kind
    (``--set channel.model=per_device`` on a path-loss file). Keys set by overrides stay, so a
    key that does not fit the new kind is still an error.
    """
    overrides = list(overrides)
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
    _drop_keys_of_replaced_kinds(out, data, {key for key, _ in overrides})
    return out


def _drop_keys_of_replaced_kinds(
    out: dict[str, Any], before: dict[str, Any], set_: set[str]
) -> None:
    for name, field in Scenario.model_fields.items():
        section, old = out.get(name), before.get(name)
        if isinstance(section, dict):
            here = {k.removeprefix(name + ".") for k in set_ if k.startswith(name + ".")}
            _drop_in_section(field, section, old if isinstance(old, dict) else {}, here)


def _drop_in_section(
    field: FieldInfo, section: dict[str, Any], old: dict[str, Any], set_here: set[str]
) -> None:
    """Remove the keys of ``section`` that belong to a kind an override replaced."""

    def replaced(key: str) -> bool:
        return key in set_here and section.get(key) != old.get(key)

    stale: set[str] = set()
    kinds, model = section_kinds(field), field.annotation
    if kinds is not None:
        kind = section.get(kinds.key, kinds.default)
        model = kinds.tags.get(kind) if isinstance(kind, str) else None
        if model is not None and replaced(kinds.key):  # unknown keys stay, to be reported
            stale |= {k for k in section if k not in model.model_fields and kinds.owners(k)}
    if isinstance(model, type) and issubclass(model, BaseModel):
        for key, when in when_fields(model).items():
            kind = section.get(when.key, model.model_fields[when.key].default)
            if replaced(when.key) and kind not in when.kinds:
                stale.add(key)
    for key in stale - set_here:
        section.pop(key, None)


def _path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` as the user writes it: without the kind that pydantic inserts after a section
    of one model per kind (``channel.pathloss.carrier_ghz`` -> ``channel.carrier_ghz``)."""
    out: list[Any] = []
    model: Any = Scenario
    parts = iter(loc)
    for part in parts:
        out.append(part)
        field = model.model_fields.get(part) if isinstance(part, str) and model else None
        kinds = section_kinds(field) if field is not None else None
        if kinds is not None:
            model = kinds.tags.get(next(parts, None))  # skip the kind
        elif field is not None and isinstance(field.annotation, type):
            model = field.annotation if issubclass(field.annotation, BaseModel) else None
        else:
            model = None
    return tuple(out)


def _kinds_at(loc: tuple[Any, ...]) -> Kinds | None:
    field = Scenario.model_fields.get(loc[0]) if len(loc) == 1 else None
    return section_kinds(field) if field is not None else None


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem: ``source: field.path: message (got value)``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc, msg, got = _path(err["loc"]), err["msg"], err.get("input")
        kinds = _kinds_at(loc)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/scenario.md)"
        elif err["type"] == "other_kind":  # a key of another kind (config/schema.py)
            ctx = err["ctx"]
            loc, got = (*loc, ctx["field"]), ctx["value"]
            msg = f"only for {ctx['key']} {ctx['kinds']}, but {ctx['key']} is {ctx['kind']}"
        elif err["type"] == "union_tag_invalid" and kinds is not None:
            loc, got = (*loc, kinds.key), got[kinds.key]
            msg = "Input should be " + one_of(list(kinds.tags))
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        where = ".".join(shown(p) for p in loc) or "(top level)"
        got_txt = (
            "" if isinstance(got, Mapping) or err["type"] == "missing" else f" (got {_short(got)})"
        )
        lines.append(f"{source}: {where}: {msg}{got_txt}")
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
        raise ScenarioError(f"{path}: YAML syntax error{where}: {yaml_problem(exc)}") from None
    if data is None:
        raise ScenarioError(f"{path}: the file is empty (nothing to run: name at least one key)")
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
    axes = sorted({"grid", "zip", "range", "logrange", "repetitions"} & data.keys())
    if "scenario" in data and axes:
        raise ScenarioError(
            f"{path}: this is a sweep file (it has `scenario:` and `{axes[0]}:`), not a "
            f"scenario: run it with `cuhlm sweep {path}`"
        )
    if {"slo", "over", "variants"} <= data.keys():
        raise ScenarioError(
            f"{path}: this is a capacity spec (`slo:`, `over:`, `variants:`), not a scenario"
        )
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
