"""The shared spec cases: build each input, write YAML, run check_spec.py on it."""

import subprocess
import sys

import pytest
import yaml

from spec_from_stream.builder import SpecBuilder
from spec_from_stream.exchange import decode
from tests.conftest import SHARED

CASES = sorted((SHARED / "cases" / "spec").glob("*/input.jsonl"))


def _write(builder: SpecBuilder, out, version: str) -> None:
    """Write one YAML document per host, the way the reader lays them out."""
    documents = builder.render(version)
    for host, document in documents.items():
        folder = out if len(documents) == 1 else out / host.replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(document, sort_keys=False)
        (folder / "openapi.yaml").write_text(text, encoding="utf-8")


def test_the_shared_cases_are_present():
    assert len(CASES) >= 10, f"the shared cases are missing from {SHARED / 'cases'}"


@pytest.mark.parametrize("version", ["3.1", "3.0"])
@pytest.mark.parametrize("case", CASES, ids=lambda path: path.parent.name)
def test_case_passes_check_spec(case, version, tmp_path):
    builder = SpecBuilder()
    for line in case.read_bytes().splitlines():
        if line.strip():
            builder.add(decode(line))
    _write(builder, tmp_path, version)
    checker = SHARED / "cases" / "check_spec.py"
    result = subprocess.run(
        [sys.executable, str(checker), str(tmp_path), str(case.parent / "expect.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:")
