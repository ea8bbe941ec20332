"""Write a result folder atomically.

Files go to a hidden temporary sibling folder first; only a complete folder is renamed into
place. A crash midway leaves the previous result untouched, and never a half-written summary.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cuhlm_sim.errors import CuhlmError


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dump_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_parquet(columns: dict[str, Any], path: Path) -> None:
    pq.write_table(pa.table(columns), path, compression="zstd")


class OutputExistsError(CuhlmError):
    pass


#: Written into every result folder: only a folder that carries it may be replaced.
MARKER = ".cuhlm-result"


def is_result_dir(folder: Path) -> bool:
    """True for a folder this tool wrote (the marker; older runs: manifest + summary)."""
    folder = Path(folder)
    return (folder / MARKER).is_file() or (
        (folder / "manifest.json").is_file() and (folder / "summary.json").is_file()
    )


class DestinationError(CuhlmError):
    """A path given for output cannot be written (a file in its way, a read-only place)."""


def check_destination(path: Path, option: str = "--out", *, folder: bool = True) -> None:
    """Refuse, before any long computation, a ``path`` this process could not write: a
    file where a folder is needed (``afile/sub``: afile), a folder where a file is needed, or
    a place where nothing can be created (read-only file system, no permission).

    Writability is tried, not guessed from mode bits (root ignores them, a read-only mount
    does not show in them): a temporary folder is made in the nearest existing folder on the
    way to ``path`` and removed at once, so nothing is left behind and nothing is created yet.
    """
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise DestinationError(f"{option}: {path} exists and is not a folder")
        if not folder and path.is_dir():
            raise DestinationError(f"{option}: {path} is a folder; name a file")
    here = path if folder else path.parent
    while not here.exists() and not here.is_symlink() and here != here.parent:
        here = here.parent
    if not here.is_dir():
        raise DestinationError(f"{option}: {path}: {here} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".cuhlm-probe-", dir=here))
    except OSError as exc:
        raise DestinationError(
            f"{option}: {path}: cannot create anything in {here} ({exc.strerror or exc})"
        ) from None


def _holds_cwd(folder: Path) -> bool:
    """True if ``folder`` is the current folder or one of its parents."""
    try:
        here, there = Path.cwd().resolve(), folder.resolve()
    except OSError:
        return False
    return there == here or there in here.parents


def check_result_dir(out_dir: Path, *, overwrite: bool = False) -> None:
    """Refuse an ``out_dir`` that is a file, a non-empty folder this tool did not write (even
    with ``overwrite``: a user's files are never deleted), earlier results unless
    ``overwrite``, the current folder (a result folder is replaced as a whole, which would
    pull the folder from under the shell), or a place that cannot be written.

    Callers check before a long computation so that it never ends in "cannot write".
    """
    out_dir = Path(out_dir)
    if _holds_cwd(out_dir):
        raise OutputExistsError(
            f"--out: {out_dir} is the current folder (or holds it); a result folder is "
            f"replaced as a whole, so name a new folder, e.g. --out {out_dir / 'results'}"
        )
    check_destination(out_dir, "--out", folder=True)
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not is_result_dir(out_dir):
        first = sorted(p.name for p in out_dir.iterdir())[0]
        raise OutputExistsError(
            f"--out: {out_dir} holds files cuhlm did not write (e.g. {first}); "
            "choose a new or empty folder (--force replaces only earlier results)"
        )
    if not overwrite:
        raise OutputExistsError(
            f"--out: {out_dir} already holds results; choose another folder or pass --force"
        )


def write_result_dir(
    out_dir: Path, writers: dict[str, Callable[[Path], None]], *, overwrite: bool = False
) -> Path:
    """Create ``out_dir`` holding one file per ``writers`` entry (name -> fn(path)).

    An existing non-empty ``out_dir`` is an error unless ``overwrite``; even then the old
    folder is only removed after the new one is complete.
    """
    out_dir = Path(out_dir)
    check_result_dir(out_dir, overwrite=overwrite)
    try:
        return _write_result_dir(out_dir, writers)
    except OSError as exc:  # the disk filled up, the folder became read-only meanwhile
        where = exc.filename or out_dir
        raise DestinationError(
            f"--out: cannot write {where} ({exc.strerror or exc}); nothing was replaced"
        ) from None


def _write_result_dir(out_dir: Path, writers: dict[str, Callable[[Path], None]]) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    old = None
    try:
        (tmp / MARKER).write_text("written by cuhlm run; --force may replace it\n")
        for name, write in writers.items():
            write(tmp / name)
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            out_dir.rename(old)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out_dir.exists():
            old.rename(out_dir)  # the earlier results go back where they were
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out_dir
