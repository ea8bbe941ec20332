"""Every kind the scenario schema accepts has an implementation in its registry, and every
registered implementation can be chosen in a scenario; ``cuhlm validate`` builds each one."""

from __future__ import annotations

import pytest

from cuhlm_sim.config.profiles import PROFILES
from cuhlm_sim.config.reference import scenario_choices
from cuhlm_sim.config.schema import Scenario
from cuhlm_sim.model.channel_state import CHANNELS, FADING, MOBILITY, RATE_MAPS
from cuhlm_sim.model.policies import POLICIES
from cuhlm_sim.model.registry import Registry
from cuhlm_sim.model.server import BATCH_LATENCIES, DISCIPLINES
from cuhlm_sim.model.timing import LATENCY_DISTS
from cuhlm_sim.model.uplink import UPLINKS
from cuhlm_sim.runner import check_scenario
from tests.conftest import REAL_TRACE

#: scenario key -> the registry its value is looked up in
PLUGINS: dict[str, Registry | dict] = {
    "policy.kind": POLICIES,
    "uplink.scheduler": UPLINKS,
    "server.discipline": DISCIPLINES,
    "server.latency_model": BATCH_LATENCIES,
    "server.profile": PROFILES,  # documented tables for the `table` model
    "channel.model": CHANNELS,
    "channel.rate_model": RATE_MAPS,
    "channel.fading": FADING,
    "channel.mobility": MOBILITY,
    "devices.slm_latency_dist": LATENCY_DISTS,
    "server.llm_latency_dist": LATENCY_DISTS,
}

#: Choices that select no implementation of their own (the components handle each value).
OPTIONS = {
    "warmup_s",  # a number or `auto` (MSER-5, metrics/steady.py)
    "devices.think_time_dist",
    "devices.arrival",
    "channel.spread",
    "channel.pathloss_model",
    "uplink.power_model",
    "policy.importance_rule",
    "policy.importance_source",
    "payload.encoding",
}

#: What a kind (``key`` or ``key=kind``) needs besides itself to be a valid scenario.
NEEDS: dict[str, dict] = {
    "channel.fading": {"channel": {"model": "pathloss"}},
    "channel.mobility": {"channel": {"model": "pathloss"}},
    "server.latency_model=table": {"server": {"latency_table": [[1, 0.1], [4, 0.2]]}},
    "server.discipline": {"policy": {"importance_source": "synthetic"}},
    # recorded per-row times: the real trace has them, the synthetic one does not
    "devices.slm_latency_dist=trace": {"trace": {"path": str(REAL_TRACE)}},
    "server.llm_latency_dist=trace": {"trace": {"path": str(REAL_TRACE)}},
    "policy.kind": {"policy": {"importance_source": "synthetic"}},
}


def _kinds(key: str) -> list[str]:
    return sorted(PLUGINS[key])  # a registry iterates like the dict of profiles: over its kinds


@pytest.mark.parametrize("key", sorted(PLUGINS))
def test_schema_and_registry_know_the_same_kinds(key):
    accepted, registered = set(scenario_choices()[key]), set(_kinds(key))
    assert not accepted - registered, f"{key}: in the schema but not registered"
    assert not registered - accepted, f"{key}: registered but not accepted by the schema"


def test_every_choice_in_the_schema_is_a_plugin_or_an_option():
    """A new choice in the schema must say whether a registry implements it."""
    assert set(scenario_choices()) == set(PLUGINS) | OPTIONS


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


@pytest.mark.parametrize(
    ("key", "kind"), [(key, kind) for key in sorted(PLUGINS) for kind in _kinds(key)]
)
def test_validate_builds_every_kind(key, kind):
    section, name = key.split(".")
    needs = NEEDS.get(f"{key}={kind}", NEEDS.get(key, {}))
    data = _merge(needs, {section: {name: kind}, "trace": {"synth_rows": 500}})
    check_scenario(Scenario.model_validate(_merge({"trace": {"path": None}}, data)))


def test_validate_fails_on_a_component_a_run_would_fail_to_build(cli_runner, write_scenario):
    """The importance-first GPU queue needs importance scores; the trace has none. Building the
    queue discipline is what finds it, so ``validate`` must build it, not only the policy."""
    from cuhlm_sim.cli import app

    path = write_scenario(server={"discipline": "priority_importance"})
    result = cli_runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "policy.importance_source" in result.stderr
