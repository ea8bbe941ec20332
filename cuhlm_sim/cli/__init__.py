"""The ``cuhlm`` command line (entry point ``cuhlm_sim.cli:main``): its commands are mounted in
:mod:`cuhlm_sim.cli.commands`; user errors are handled once, in :mod:`cuhlm_sim.cli.common`."""

from cuhlm_sim.cli.commands import app, main

__all__ = ["app", "main"]
