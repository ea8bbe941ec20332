"""The ``cuhlm`` command line: every command, assembled in one place.

Each command lives in the module of its job (:mod:`~cuhlm_sim.cli.scenario`,
:mod:`~cuhlm_sim.cli.experiments`, :mod:`~cuhlm_sim.cli.accuracy`, the ``traces`` sub-app in
:mod:`~cuhlm_sim.cli.traces`); this module only mounts them. The apps come from
:func:`~cuhlm_sim.cli.common.new_app`, so every command turns a user error into one line on
stderr and exit code 2.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cuhlm_sim import __version__
from cuhlm_sim.cli import accuracy, experiments, scenario, traces
from cuhlm_sim.cli.common import console, new_app

app = new_app(
    help="cuhlm_sim: discrete-event simulator of hybrid LM inference over a wireless uplink."
)
for _command in (
    scenario.run,
    scenario.validate,
    scenario.keys,
    experiments.bench,
    experiments.sweep,
    experiments.capacity,
    experiments.plot,
    accuracy.accuracy,
):
    app.command()(_command)
app.add_typer(traces.app, name="traces")


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"cuhlm_sim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True)
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Entry point of the ``cuhlm`` script (``cuhlm_sim.cli:main`` in pyproject.toml)."""
    app()
