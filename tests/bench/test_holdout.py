"""The builder on held-out APIs it was not tuned on (bench/holdout)."""

import json
import random
import subprocess
import sys

import pytest
import yaml

from bench.accuracy import METRICS, run
from bench.holdout.generate import Faker, MockApp, Spec, Values
from tests.conftest import ROOT, SHARED

FOLDER = ROOT / "bench" / "holdout"
NAMES = sorted(path.stem for path in (FOLDER / "specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Build and score every held-out API once."""
    return run(FOLDER, tmp_path_factory.mktemp("holdout"))


def test_every_held_out_api_has_its_traffic():
    assert len(NAMES) >= 6
    for name in NAMES:
        assert (FOLDER / "traffic" / f"{name}.jsonl").is_file()


def _shortfalls(report: dict) -> list[str]:
    """Return the floors one API's report does not meet."""
    missed = []
    for key, sub, title, _, floor in METRICS:
        value = report[key][sub]
        if value is not None and value < floor:
            missed.append(f"{title} {value:.3f} < {floor}")
    return missed


@pytest.mark.parametrize("name", NAMES)
def test_held_out_api_meets_every_floor(reports, name):
    assert not _shortfalls(reports[name])


@pytest.mark.parametrize("seed", [3, 5])
def test_sparse_traffic_still_meets_every_floor(tmp_path, monkeypatch, seed):
    import bench.holdout.generate as generate

    # a third of the committed traffic: one or two answers per path value
    (tmp_path / "specs").mkdir()
    for name in NAMES:
        source = FOLDER / "specs" / f"{name}.yaml"
        (tmp_path / "specs" / source.name).write_text(source.read_text())
    scorer = SHARED / "accuracy" / "score.py"
    (tmp_path / "score.py").write_text(
        f"import runpy, sys\nsys.argv[0] = {str(scorer)!r}\n"
        f"runpy.run_path({str(scorer)!r}, run_name='__main__')\n"
    )
    monkeypatch.setattr(generate, "HERE", tmp_path)
    generate.main(["--requests-per-operation", "8", "--seed", str(seed)])
    reports = run(tmp_path, tmp_path / "out")
    missed = {name: _shortfalls(report) for name, report in reports.items()}
    assert not any(missed.values()), missed


def test_held_out_traffic_repeats_path_values_and_asks_for_other_statuses():
    for name in NAMES:
        lines = (FOLDER / "traffic" / f"{name}.jsonl").read_text().splitlines()
        exchanges = [json.loads(line) for line in lines]
        paths = [exchange["request"]["pathname"] for exchange in exchanges]
        statuses = {exchange["response"]["statusCode"] for exchange in exchanges}
        assert len(set(paths)) < len(paths)
        assert statuses - {200, 201, 202, 204}, name
        assert len({exchange["request"]["host"] for exchange in exchanges}) == 1


def test_generator_writes_values_valid_for_the_schema():
    document = {
        "components": {
            "schemas": {
                "Item": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "integer", "minimum": 3, "maximum": 9},
                        "tag": {"type": ["string", "null"]},
                    },
                }
            }
        }
    }
    spec = Spec(document)
    faker = Faker(spec, Values(random.Random(1)))
    for _ in range(50):
        item = faker.value({"$ref": "#/components/schemas/Item"})
        assert 3 <= item["id"] <= 9
        assert set(item) <= {"id", "tag"}
        assert item.get("tag") is None or isinstance(item["tag"], str)


def test_generator_command_writes_traffic_to_its_folder(tmp_path, monkeypatch):
    import bench.holdout.generate as generate

    (tmp_path / "specs").mkdir()
    source = FOLDER / "specs" / f"{NAMES[0]}.yaml"
    (tmp_path / "specs" / source.name).write_text(source.read_text())
    monkeypatch.setattr(generate, "HERE", tmp_path)
    assert generate.main(["--requests-per-operation", "2"]) == 0
    written = tmp_path / "traffic" / source.name.replace(".yaml", ".jsonl")
    lines = written.read_text().splitlines()
    assert lines and all(json.loads(line)["response"]["statusCode"] for line in lines)


def test_holdout_folder_scores_from_the_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.accuracy", str(FOLDER)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_held_out_specs_and_inferred_documents_are_valid(name):
    from openapi_spec_validator import validate

    from spec_from_stream.builder import SpecBuilder

    validate(yaml.safe_load((FOLDER / "specs" / f"{name}.yaml").read_text()))
    builder = SpecBuilder()
    with (FOLDER / "traffic" / f"{name}.jsonl").open("rb") as lines:
        for line in lines:
            builder.add_raw(line)
    for version in ("3.1", "3.0"):
        (document,) = builder.render(version).values()
        validate(document)


def test_generator_picks_one_branch_of_a_union():
    branches = [
        {
            "type": "object",
            "required": ["method", "last4"],
            "properties": {
                "method": {"type": "string", "enum": ["card"]},
                "last4": {"type": "string", "x-gen": "last4"},
            },
        },
        {
            "type": "object",
            "required": ["method", "iban"],
            "properties": {
                "method": {"type": "string", "enum": ["bank_transfer"]},
                "iban": {"type": "string", "x-gen": "iban"},
            },
        },
    ]
    faker = Faker(Spec({}), Values(random.Random(2)))
    seen = set()
    for _ in range(30):
        value = faker.value({"oneOf": branches})
        assert set(value) in ({"method", "last4"}, {"method", "iban"})
        seen.add(value["method"])
    assert seen == {"card", "bank_transfer"}


def test_mock_sends_declared_headers_text_bodies_and_redirects():
    from werkzeug.test import Client

    located = {"schema": {"type": "string", "format": "uri"}}
    document = {
        "paths": {
            "/jobs/{job}": {"post": {"responses": {"200": {"description": "a"}}}},
            "/jobs/{job}:cancel": {
                "post": {"responses": {"204": {"description": "cancelled"}}}
            },
            "/reports/{month}.csv": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "rows",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        }
                    }
                }
            },
            "/go": {
                "get": {
                    "responses": {
                        "303": {"description": "on", "headers": {"Location": located}}
                    }
                }
            },
        }
    }
    spec = Spec(document)
    client = Client(MockApp(spec, Faker(spec, Values(random.Random(4)))))
    # the custom method is routed to its own operation, not to /jobs/{job}
    assert client.post("/jobs/nightly:cancel").status_code == 204
    csv = client.get("/reports/2025-01.csv")
    assert csv.headers["Content-Type"] == "text/csv"
    assert csv.get_data(as_text=True).startswith("id,total\n")
    redirect = client.get("/go")
    assert redirect.status_code == 303
    assert redirect.headers["Location"].startswith("https://")
