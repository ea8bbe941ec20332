"""Write a result folder atomically.

Files go to a hidden temporary sibling folder first; only a complete folder is renamed into
place. A crash midway leaves the previous result untouched, and never a half-written summary.
"""

from __future__ import annotations

import json
import math
import shutil
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


def check_result_dir(out_dir: Path, *, overwrite: bool = False) -> None:
    """Refuse an ``out_dir`` that is a file, a non-empty folder this tool did not write (even
    with ``overwrite``: a user's files are never deleted), or earlier results unless
    ``overwrite``.

    Callers check before a long computation so that it never ends in "cannot write".
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"--out: {out_dir} exists and is not a folder")
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
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / MARKER).write_text("written by cuhlm run; --force may replace it\n")
        for name, write in writers.items():
            write(tmp / name)
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
