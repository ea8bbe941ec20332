"""What users get must be self-contained: no tracked file outside tests/ cites the developers'
notes (``../shared/reference/hlm-theory.md``, ``real-models.md``), and every citation of
``docs/theory.md §N`` or ``docs/models.md §N`` names a section that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: References to files only the developers have.
PRIVATE = re.compile(r"shared/reference|\.\./shared/|hlm-theory|real-models")
CITATION = re.compile(
    r"docs/(theory|models)\.md[`\s]*((?:§\s*\d+(?:\.\d+)?(?:\s*[-–]\s*§?\d+)?(?:\s*(?:,|and)\s*)?)+)"
)
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in out.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        head = path.read_bytes()[:8192]
        if b"\0" not in head:  # text only
            files.append(path)
    return files


def test_no_tracked_file_outside_tests_points_into_shared():
    offenders = []
    for path in _tracked_text_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("tests/"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
            if PRIVATE.search(line):
                offenders.append(f"{rel}:{n + 1}: {line.strip()}")
    assert not offenders, (
        "users do not have the developers' reference notes; cite docs/theory.md §N or "
        "docs/models.md §N instead:\n" + "\n".join(offenders)
    )


def _sections(doc: str) -> set[str]:
    return set(HEADING.findall((ROOT / "docs" / f"{doc}.md").read_text(encoding="utf-8")))


def test_every_docs_citation_names_an_existing_section():
    sections = {doc: _sections(doc) for doc in ("theory", "models")}
    assert {"2", "2.1", "3", "4", "5", "6", "7", "8", "9", "11"} <= sections["theory"]
    assert {str(n) for n in range(1, 10)} <= sections["models"]
    cited, missing = 0, []
    for path in _tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in CITATION.finditer(text):
            doc, refs = m.group(1), m.group(2)
            for a, b in re.findall(r"(\d+(?:\.\d+)?)(?:\s*[-–]\s*§?(\d+))?", refs):
                numbers = [a] if not b else [str(i) for i in range(int(a), int(b) + 1)]
                for num in numbers:
                    cited += 1
                    if num not in sections[doc]:
                        missing.append(f"{path.relative_to(ROOT)}: docs/{doc}.md §{num}")
    assert cited > 20
    assert not missing, "\n".join(missing)
