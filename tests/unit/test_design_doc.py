"""docs/design.md names files and definitions that exist (the recipes must not drift)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "cuhlm_sim").rglob("*.py"))
CODE = re.findall(r"`([^`\n]+)`", DOC)


def test_every_named_file_exists():
    paths = {c for c in CODE if re.fullmatch(r"[\w./*-]+(\.py|\.md|/)", c)}
    missing = [
        p
        for p in sorted(paths)
        if not any((base / p).exists() or list(base.glob(p)) for base in (ROOT, ROOT / "cuhlm_sim"))
    ]
    assert paths and missing == []


def test_every_named_class_registry_and_decorator_is_defined():
    """CamelCase classes, UPPER_CASE registries and ``@decorators`` named in the doc."""
    names = set()
    for c in CODE:
        names.update(re.findall(r"@(\w+)\(", c))
        names.update(w for w in re.findall(r"\b[A-Z][A-Za-z]+[a-z][A-Za-z]*\b", c))
        names.update(re.findall(r"\b[A-Z][A-Z_]{2,}\b", c))
    names -= {"DIR", "False", "Literal", "README"}  # words of the prose and of Python
    names = {n for n in names if not n.startswith("Name")}  # placeholders: NameChannelConfig
    defined = {n for n in names if re.search(rf"(class|def) {n}\b|^\s*{n}\b.*=", SOURCE, re.M)}
    assert sorted(names - defined) == []
