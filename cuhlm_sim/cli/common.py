"""What every ``cuhlm`` command shares: the consoles and the one way a user error leaves.

Commands raise :class:`~cuhlm_sim.errors.CuhlmError` for user mistakes and never catch it.
Every Typer app of the CLI is made by :func:`new_app`, whose click group runs the command and
turns such an error into one line on stderr and its exit code (2), never a traceback; bugs keep
their traceback. A command added to any app gets this without doing anything.
"""

from __future__ import annotations

import errno
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from cuhlm_sim.errors import CuhlmError

console = Console()
err_console = Console(stderr=True)


def exit_with(exc: CuhlmError) -> NoReturn:
    """Print ``exc`` as one ``error: ...`` line on stderr and exit with its code."""
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=exc.exit_code)


#: OSError numbers that always describe the machine, never a bug: a full disk or quota, a
#: read-only file system, missing permission. Whatever file they hit, the user can act on them.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class UserErrorGroup(TyperGroup):
    """A command group whose commands' user errors become :func:`exit_with`.

    Besides :class:`CuhlmError`, an :class:`OSError` of :data:`ENVIRONMENT_ERRNOS` (the disk
    filled up during a long sweep, say) is one line naming the file: no check made before the
    work can rule those out. Other OSErrors keep their traceback.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CuhlmError as exc:
            exit_with(exc)
        except OSError as exc:
            if exc.errno not in ENVIRONMENT_ERRNOS:
                raise
            where = exc.filename if exc.filename is not None else "a file or folder"
            exit_with(CuhlmError(f"{where}: {exc.strerror or exc}"))


def new_app(**kwargs: Any) -> typer.Typer:
    """A Typer app with the CLI's error handling (and no shell-completion options)."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(
        cls=UserErrorGroup, pretty_exceptions_show_locals=False, add_completion=False, **kwargs
    )
