"""Transmit-or-skip policies. To add a scheme: one class with ``@POLICIES.register("name")`` in
one of the modules imported here (importing them is what registers them)."""

from cuhlm_sim.model.policies import (  # noqa: F401  (registers the kinds)
    adaptive,
    cuhlm,
    ihlm,
    simple,
)
from cuhlm_sim.model.policies.base import POLICIES, Policy

__all__ = ["POLICIES", "Policy"]
