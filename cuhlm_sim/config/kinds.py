"""Sections by kind: one schema model per kind, chosen by a key, and keys that apply to only
some values of another key.

:func:`by_kind` makes a section type whose kind key (``channel.model``) selects the model;
:class:`When` marks a key that matters only for some values of another key of its model
(``rician_k_db`` for ``fading: rician``). A key of another kind is an error naming the key and
the kinds it belongs to, unless it is null or at its default: such a value changes nothing,
and it lets one base file serve several kinds (``--set policy.kind=hlm`` on a file written for
U-HLM with ``truncation_k: null``; a sweep that zips ``policy.tv_budget: [null, 0.05]`` with the
kinds). ``config/load.py`` turns the error into one line with the key's path, and a ``--set``
that changes a kind drops the file's keys of the kind it replaces.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class When:
    """Field metadata: the key applies only while ``key`` of the same model is one of
    ``kinds``."""

    key: str
    kinds: tuple[str, ...]

    def __init__(self, key: str, *kinds: str) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "kinds", kinds)


def one_of(kinds: Sequence[str]) -> str:
    """'a', 'b' or 'c', as pydantic lists the values of a Literal."""
    quoted = [repr(k) for k in kinds]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def other_kind_error(
    field: str, value: Any, key: str, kinds: Sequence[str], kind: Any
) -> Exception:
    """The one error for a key of another kind (``config/load.py`` puts ``field`` in its path)."""
    ctx = {"field": field, "key": key, "kinds": one_of(kinds), "kind": repr(kind), "value": value}
    return PydanticCustomError(
        "other_kind", "{field} is only for {key} {kinds}, but {key} is {kind}", ctx
    )


def _without(
    data: Mapping[str, Any], name: str, field: FieldInfo, key: str, kinds: Sequence[str], kind: Any
) -> dict[str, Any]:
    """``data`` without the key ``name`` of another kind: allowed when null or at its default
    (it changes nothing), an error otherwise."""
    value = data[name]
    if value is not None and value != field.default:
        raise other_kind_error(name, value, key, kinds, kind)
    return {k: v for k, v in data.items() if k != name}


@functools.cache
def when_fields(model: type[BaseModel]) -> dict[str, When]:
    """The keys of ``model`` marked :class:`When`."""
    return {
        name: meta
        for name, field in model.model_fields.items()
        for meta in field.metadata
        if isinstance(meta, When)
    }


class SchemaModel(BaseModel):
    """A strict, frozen schema model (unknown keys are errors) whose :class:`When` keys are
    checked against their selector."""

    # allow_inf_nan=False: every float of every section must be finite (one rule for the whole
    # schema: `duration_s=inf`, `snr_db_list=[nan, 1]` are mistakes, never a run).
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _keys_of_other_kinds(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        for name, when in when_fields(cls).items():
            selector = cls.model_fields[when.key]
            kind = data.get(when.key, selector.default)
            if name not in data or kind in when.kinds:
                continue
            if kind in typing.get_args(selector.annotation):  # else pydantic names the kinds
                data = _without(data, name, cls.model_fields[name], when.key, when.kinds, kind)
        return data


@dataclass(frozen=True)
class Kinds:
    """A section with one model per kind, chosen by its ``key``; without the key it is the
    first member's kind (or what ``infer`` reads from the other keys)."""

    key: str
    members: tuple[type[SchemaModel], ...]
    description: str
    infer: Callable[[Mapping[str, Any]], str | None] | None = None

    @functools.cached_property
    def tags(self) -> dict[str, type[SchemaModel]]:
        """kind -> its model, in declaration order."""
        return {
            tag: m
            for m in self.members
            for tag in typing.get_args(m.model_fields[self.key].annotation)
        }

    @property
    def default(self) -> str:
        return self.members[0].model_fields[self.key].default

    def owners(self, name: str) -> list[str]:
        """The kinds whose model has the key ``name``."""
        return [tag for tag, m in self.tags.items() if name in m.model_fields]

    def choose(self, data: Any) -> Any:
        """Before validation: fill in the kind and take out the keys of other kinds."""
        if not isinstance(data, Mapping):
            return data
        if self.key not in data:
            inferred = self.infer(data) if self.infer else None
            data = {self.key: inferred or self.default, **data}
        kind = data[self.key]
        model = self.tags.get(kind) if isinstance(kind, str) else None
        if model is None:
            return data  # pydantic names the expected kinds
        for name in list(data):
            owners = self.owners(name)  # none: an unknown key, which pydantic reports
            if owners and name not in model.model_fields:
                field = self.tags[owners[0]].model_fields[name]
                data = _without(data, name, field, self.key, owners, kind)
        return data


def by_kind(
    key: str,
    *members: type[SchemaModel],
    description: str,
    infer: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> Any:
    """The type of a section with one model per kind (see :class:`Kinds`)."""
    kinds = Kinds(key, members, description, infer)
    return Annotated[
        Union[members],  # noqa: UP007 (a tuple of members)
        Field(discriminator=key),
        BeforeValidator(kinds.choose),
        kinds,
    ]


def section_kinds(field: FieldInfo) -> Kinds | None:
    """The :class:`Kinds` of a section field, None for a section of one model."""
    return next((m for m in field.metadata if isinstance(m, Kinds)), None)
