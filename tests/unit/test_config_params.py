"""One configuration definition: the model's parameters have exactly the schema's keys and no
default of their own; each kind of a section is its own model; every key is reachable by --set."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from cuhlm_sim.config.build import PARAMS, section_params
from cuhlm_sim.config.kinds import section_kinds, when_fields
from cuhlm_sim.config.load import apply_overrides
from cuhlm_sim.config.reference import scenario_reference_rows
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.model import params

#: Keys on one side only; config/build.py fills them in from elsewhere.
ONLY_IN_PARAMS = {"downlink_latency_s"}  # the scenario's downlink.latency_s
ONLY_IN_SCHEMA = {"profile"}  # resolved into latency_table
#: Sections the model takes no parameter object for (build.py reads them itself).
NO_PARAMS = {"downlink", "trace"}


def _section_models() -> Iterator[tuple[str, type[BaseModel]]]:
    """(section, model) for every model a section can be: one per kind for sections by kind."""
    for name, field in Scenario.model_fields.items():
        kinds = section_kinds(field)
        if kinds is not None:
            yield from ((name, m) for m in kinds.members)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield name, field.annotation


MODELS = [m for name, m in _section_models() if name not in NO_PARAMS]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_section_model_has_a_parameter_class_with_its_keys(model):
    keys = {f.name for f in dataclasses.fields(PARAMS[model])} - ONLY_IN_PARAMS
    assert keys == set(model.model_fields) - ONLY_IN_SCHEMA


def test_parameter_classes_restate_no_default():
    """Defaults are written once, in config/schema.py."""
    classes = [c for c in vars(params).values() if dataclasses.is_dataclass(c)]
    defaulted = [
        f"{c.__name__}.{f.name}"
        for c in classes
        for f in dataclasses.fields(c)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert not defaulted


def test_a_pathloss_channel_has_only_path_loss_keys():
    channel = Scenario.model_validate({"channel": {"model": "pathloss"}}).channel
    assert "carrier_ghz" in channel.model_dump() and "snr_db" not in channel.model_dump()
    assert not hasattr(section_params(channel), "snr_db")


#: A value for the keys whose default is not a valid value on its own.
VALUES = {"server.latency_table": [[1, 0.1], [2, 0.15]], "server.profile": "llama2_7b_a100"}


def _settings() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """(key, --set items that select its kind and set it) for every key of every kind."""
    for name, field in Scenario.model_fields.items():
        kinds = section_kinds(field)
        if kinds is None and not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            yield name, [(name, field.default)]
            continue
        members = {tag: m for tag, m in kinds.tags.items()} if kinds else {"": field.annotation}
        for tag, model in members.items():
            for key, f in model.model_fields.items():
                dotted = f"{name}.{key}"
                items = [(f"{name}.{kinds.key}", tag)] if kinds else []
                when = when_fields(model).get(key)
                if when is not None:
                    items.append((f"{name}.{when.key}", when.kinds[0]))
                if tag == "table" and key != "profile":
                    items.append(("server.latency_table", VALUES["server.latency_table"]))
                value = tag if kinds and key == kinds.key else VALUES.get(dotted, f.default)
                yield dotted, [*items, (dotted, value)]


def _plain(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def test_every_key_of_every_kind_is_listed_and_reachable_by_set():
    """`cuhlm keys` lists exactly the keys of all kinds, and each --set lands in the scenario."""
    reached = set()
    for dotted, items in _settings():
        scn = Scenario.model_validate(apply_overrides({}, items)).model_dump(mode="json")
        node = scn
        for part in dotted.split("."):
            node = node[part]
        assert node == _plain(items[-1][1]), dotted
        reached.add(dotted)
    assert reached == {row[0] for row in scenario_reference_rows()}
