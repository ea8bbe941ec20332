"""The scenario reference (every key, type, default, description), generated from the schema
so it cannot drift from the code. ``cuhlm keys`` prints it; ``make docs`` writes
docs/scenario.md.

A section with one model per kind lists its kind key first, then the keys every kind has, then
each kind's own keys; a key that only some kinds (or some values of another key) have says so
in front of its description, e.g. "(model: pathloss; fading: rician)".
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterator

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cuhlm_sim.config.kinds import Kinds, When, section_kinds
from cuhlm_sim.config.schema import Scenario

Row = tuple[str, str, str, str]  # key, type, default, description


def _type_name(annotation: object) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    text = str(annotation).replace("typing.", "").replace("pathlib.", "")
    return text.replace("<class '", "").replace("'>", "")


def _row(key: str, field: FieldInfo, only: list[str]) -> Row:
    only = only + [f"{m.key}: {', '.join(m.kinds)}" for m in field.metadata if isinstance(m, When)]
    prefix = f"({'; '.join(only)}) " if only else ""
    desc = prefix + (field.description or "")
    return key, _type_name(field.annotation), repr(field.default), desc


def _kind_rows(kinds: Kinds, prefix: str) -> Iterator[Row]:
    """The kind key, the keys of every kind, then each kind's own keys."""
    tags = list(kinds.tags)
    yield prefix + kinds.key, " | ".join(map(repr, tags)), repr(kinds.default), kinds.description
    fields: dict[str, FieldInfo] = {}
    for model in kinds.members:
        for name, field in model.model_fields.items():
            fields.setdefault(name, field)
    del fields[kinds.key]
    shared = [n for n in fields if len(kinds.owners(n)) == len(tags)]
    for name in shared + [n for n in fields if n not in shared]:
        owners = kinds.owners(name)
        only = [] if len(owners) == len(tags) else [f"{kinds.key}: {', '.join(owners)}"]
        yield _row(prefix + name, fields[name], only)


def _walk(model: type[BaseModel], prefix: str = "") -> Iterator[Row]:
    for name, field in model.model_fields.items():
        ann, key = field.annotation, f"{prefix}{name}"
        kinds = section_kinds(field)
        if kinds is not None:
            yield from _kind_rows(kinds, key + ".")
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk(ann, key + ".")
        else:
            yield _row(key, field, [])


@functools.cache
def _rows() -> tuple[Row, ...]:
    return tuple(_walk(Scenario))


def scenario_reference_rows() -> list[Row]:
    return list(_rows())


def scenario_key_exists(key: str) -> bool:
    """Whether ``key`` is a scenario key of some kind (a row of `cuhlm keys`) or a section."""
    return any(k == key or k.startswith(key + ".") for k, *_ in _rows())


def _literal(annotation: object) -> tuple[str, ...]:
    """The strings of ``Literal[...]`` or ``Literal[...] | None``; () for any other type."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(v for a in typing.get_args(annotation) for v in _literal(a))
    return ()


def _choices(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, tuple[str, ...]]]:
    for name, field in model.model_fields.items():
        kinds = section_kinds(field)
        if kinds is not None:
            yield f"{prefix}{name}.{kinds.key}", tuple(kinds.tags)
            for member in kinds.members:
                for key, values in _choices(member, f"{prefix}{name}."):
                    if key != f"{prefix}{name}.{kinds.key}":
                        yield key, values
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _choices(field.annotation, f"{prefix}{name}.")
        elif values := _literal(field.annotation):
            yield f"{prefix}{name}", values


def scenario_choices() -> dict[str, tuple[str, ...]]:
    """Every key that takes one of a fixed set of strings -> the strings the schema accepts
    (over all kinds of its section)."""
    out: dict[str, tuple[str, ...]] = {}
    for key, values in _choices(Scenario):
        out[key] = tuple(dict.fromkeys(out.get(key, ()) + values))
    return out


def scenario_reference_markdown() -> str:
    lines = [
        "# Scenario reference",
        "",
        "Generated from `cuhlm_sim/config/schema.py` by `make docs` (`cuhlm keys` prints the "
        "same). Every key can be set in YAML or with `--set key=value`. A key in parentheses "
        "such as (model: pathloss) belongs to those kinds only: for another kind it must be "
        "left out, null or at its default (which changes nothing), else it is an error.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, type_name, default, desc in scenario_reference_rows():
        cells = [
            f"`{key}`",
            type_name.replace("|", "\\|"),
            f"`{default}`",
            desc.replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
