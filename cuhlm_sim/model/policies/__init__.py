"""Transmit-or-skip policies. To add a scheme: one class here, one ``POLICIES.add`` line."""

from cuhlm_sim.model.policies.base import Policy
from cuhlm_sim.model.policies.cuhlm import CuhlmPolicy
from cuhlm_sim.model.policies.ihlm import IhlmPolicy
from cuhlm_sim.model.policies.simple import (
    HlmPolicy,
    LlmOnlyPolicy,
    RandomSkipPolicy,
    SlmOnlyPolicy,
    UhlmPolicy,
)
from cuhlm_sim.model.registry import Registry

POLICIES: Registry[Policy] = Registry("policy")
POLICIES.add("hlm", HlmPolicy)
POLICIES.add("uhlm", UhlmPolicy)
POLICIES.add("cuhlm", CuhlmPolicy)
POLICIES.add("ihlm", IhlmPolicy)
POLICIES.add("slm_only", SlmOnlyPolicy)
POLICIES.add("llm_only", LlmOnlyPolicy)
POLICIES.add("random_skip", RandomSkipPolicy)

__all__ = ["POLICIES", "Policy"]
