"""Exceptions for user mistakes.

Everything a user can get wrong (a scenario file, a trace file, a command-line value) raises a
:class:`CuhlmError`. Only the CLI catches them: it prints the message and exits with code 2.
Bugs are not ``CuhlmError`` and keep their traceback.
"""

from __future__ import annotations


class CuhlmError(Exception):
    """A mistake in user input; the message alone must tell the user what to fix."""

    exit_code = 2


class ScenarioError(CuhlmError):
    """A scenario file (or a ``--set`` override) is invalid."""


class TraceError(CuhlmError):
    """A trace file is missing, unreadable or lacks required columns."""


class MissingExtraError(CuhlmError):
    """An optional dependency (e.g. the ``traces`` extra) is not installed."""
