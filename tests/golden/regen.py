"""Rewrite tests/golden/summaries.json (only after a deliberate model change that bumped
``cuhlm_sim.MODEL_REVISION``): ``python tests/golden/regen.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, GOLDEN, run_case

from cuhlm_sim import MODEL_REVISION


def main() -> None:
    data = {"model_revision": MODEL_REVISION, "cases": {n: run_case(n) for n in CASES}}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({len(CASES)} cases, revision {MODEL_REVISION})")


if __name__ == "__main__":
    main()
