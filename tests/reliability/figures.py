"""The figures each reliability test measured, as JSON for the README's table."""

from __future__ import annotations

import json
from pathlib import Path

FIGURES_DIR = Path(__file__).resolve().parent / ".figures"


def write_figures(scenario: str, figures: dict) -> Path:
    """Write one scenario's figures to .figures/<scenario>.json and print them."""
    FIGURES_DIR.mkdir(exist_ok=True)
    path = FIGURES_DIR / f"{scenario}.json"
    text = json.dumps(figures, indent=2, sort_keys=True)
    path.write_text(text + "\n")
    # shown with pytest -s, and in the report of a failing test
    print(f"{scenario}: {text}")
    return path
