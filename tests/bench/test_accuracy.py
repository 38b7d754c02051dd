"""The accuracy benchmark runs from one command and prints its table."""

import subprocess
import sys

from tests.conftest import ROOT, SHARED

FOLDER = SHARED / "accuracy"


def test_accuracy_command_prints_a_row_per_api_and_the_macro_average(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.accuracy", str(FOLDER), "--keep", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = sorted(path.stem for path in (FOLDER / "traffic").glob("*.jsonl"))
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()}
    for name in names:
        assert len(rows[name]) == 9
        assert (tmp_path / f"{name}.yaml").is_file()
    macro = next(line for line in lines if line.startswith("macro average"))
    operation_recall, operation_precision, path_recall = (
        float(cell) for cell in macro.split()[2:5]
    )
    # the floors of the accuracy targets for templating, which the builder meets
    assert operation_recall >= 0.85
    assert operation_precision >= 0.85
    assert path_recall >= 0.85


def test_accuracy_command_reports_a_bad_folder_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.accuracy", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
