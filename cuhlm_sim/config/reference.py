"""The scenario reference (every key, type, default, description), generated from the schema
so it cannot drift from the code. ``cuhlm keys`` prints it; ``make docs`` writes
docs/scenario.md."""

from __future__ import annotations

import typing
from collections.abc import Iterator

from pydantic import BaseModel

from cuhlm_sim.config.schema import Scenario


def _type_name(annotation: object) -> str:
    text = str(annotation).replace("typing.", "").replace("pathlib.", "")
    return text.replace("<class '", "").replace("'>", "")


def _walk(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        ann = field.annotation
        key = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk(ann, key + ".")
            continue
        if typing.get_origin(ann) is typing.Literal:
            type_name = " | ".join(repr(a) for a in typing.get_args(ann))
        else:
            type_name = _type_name(ann)
        yield key, type_name, repr(field.default), field.description or ""


def scenario_reference_rows() -> list[tuple[str, str, str, str]]:
    return list(_walk(Scenario))


def _choices(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, tuple[str, ...]]]:
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _choices(ann, f"{prefix}{name}.")
        elif typing.get_origin(ann) is typing.Literal:
            yield f"{prefix}{name}", typing.get_args(ann)


def scenario_choices() -> dict[str, tuple[str, ...]]:
    """Every key that takes one of a fixed set of strings -> the strings the schema accepts."""
    return dict(_choices(Scenario))


def scenario_reference_markdown() -> str:
    lines = [
        "# Scenario reference",
        "",
        "Generated from `cuhlm_sim/config/schema.py` by `make docs` (`cuhlm keys` prints the "
        "same). Every key can be set in YAML or with `--set key=value`.",
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
