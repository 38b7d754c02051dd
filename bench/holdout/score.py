"""The shared scorer, so that this folder has the layout bench.accuracy expects.

    python bench/holdout/score.py TRUTH INFERRED --traffic TRAFFIC [--json OUT]

It runs ../shared/accuracy/score.py (next to this repository) unchanged, so the
held-out APIs are scored exactly like the shared ones.
"""

import runpy
import sys
from pathlib import Path

SHARED_SCORER = (
    Path(__file__).resolve().parents[2].parent / "shared" / "accuracy" / "score.py"
)

if __name__ == "__main__":
    if not SHARED_SCORER.is_file():
        sys.exit(f"score.py: the shared scorer is missing: {SHARED_SCORER}")
    sys.argv[0] = str(SHARED_SCORER)
    runpy.run_path(str(SHARED_SCORER), run_name="__main__")
