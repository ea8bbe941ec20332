"""Scenario configuration: pydantic schema, YAML loading with ``--set`` overrides, and the
conversion into the frozen parameters the model takes."""

from cuhlm_sim.config.load import load_scenario, parse_overrides
from cuhlm_sim.config.schema import Scenario

__all__ = ["Scenario", "load_scenario", "parse_overrides"]
