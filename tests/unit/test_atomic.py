"""The one atomic writer: a failed write leaves the old file whole and no temporary behind."""

from __future__ import annotations

import pytest

from cuhlm_sim.atomic import atomic_path, atomic_write_text


def test_success_replaces_and_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "sub" / "f.json"
    atomic_write_text(target, "old")
    assert target.read_text() == "old"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash midway")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
