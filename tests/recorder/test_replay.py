"""`python -m recorder.replay`: JSON Lines and HAR files into the topic, redacted."""

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from recorder.replay import read_exchanges
from tests.conftest import SHARED, free_port, run_module
from tests.recorder.conftest import assert_valid
from tests.recorder.test_kafka import consume

SPEC_CASE = SHARED / "cases" / "spec" / "10-tutorial-users" / "input.jsonl"


def run_replay(*args: str) -> subprocess.CompletedProcess:
    return run_module("recorder.replay", *args)


def test_json_lines_are_sent_redacted(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    lines = SPEC_CASE.read_text().splitlines()
    secret = {
        "request": {
            "method": "get",
            "host": "api.test",
            "pathname": "/me",
            "query": {"access_token": "qs-secret"},
            "headers": {"Authorization": "Bearer header-secret"},
        },
        "response": {
            "statusCode": 200,
            "body": '{"password": "body-secret"}',
            "headers": {"content-type": "application/json"},
        },
    }
    source = tmp_path / "recordings.jsonl"
    source.write_text("\n".join([*lines, json.dumps(secret), "not json", "{}"]) + "\n")

    done = run_replay(
        str(source), "--bootstrap-server", kafka_bootstrap, "--topic", kafka_topic
    )
    assert done.returncode == 0, done.stderr
    assert f"sent {len(lines) + 1} exchanges" in done.stdout
    assert "skipped 2 entries" in done.stderr

    messages = consume(kafka_bootstrap, kafka_topic, len(lines) + 1)
    assert len(messages) == len(lines) + 1
    raw = json.dumps(messages)
    for value in ("qs-secret", "header-secret", "body-secret"):
        assert value not in raw
    assert "Bearer [REDACTED]" in raw


def test_har_files_are_sent(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    har = {
        "log": {
            "version": "1.2",
            "entries": [
                {
                    "startedDateTime": "2026-01-05T10:00:00.000Z",
                    "time": 12,
                    "request": {
                        "method": "GET",
                        "url": "http://api.test/users?limit=2&api_key=har-secret",
                        "httpVersion": "HTTP/1.1",
                        "headers": [{"name": "Accept", "value": "application/json"}],
                        "queryString": [
                            {"name": "limit", "value": "2"},
                            {"name": "api_key", "value": "har-secret"},
                        ],
                        "cookies": [],
                        "headersSize": -1,
                        "bodySize": 0,
                    },
                    "response": {
                        "status": 200,
                        "statusText": "OK",
                        "httpVersion": "HTTP/1.1",
                        "headers": [
                            {"name": "Content-Type", "value": "application/json"}
                        ],
                        "cookies": [],
                        "content": {
                            "size": 2,
                            "mimeType": "application/json",
                            "text": "[]",
                        },
                        "redirectURL": "",
                        "headersSize": -1,
                        "bodySize": 2,
                    },
                    "cache": {},
                    "timings": {"send": 0, "wait": 12, "receive": 0},
                }
            ],
        }
    }
    source = tmp_path / "capture.har"
    source.write_text(json.dumps(har, indent=2))
    done = run_replay(
        str(source), "--bootstrap-server", kafka_bootstrap, "--topic", kafka_topic
    )
    assert done.returncode == 0, done.stderr
    (message,) = consume(kafka_bootstrap, kafka_topic, 1)
    assert_valid(message)
    assert message["request"]["query"]["limit"] == "2"
    assert "har-secret" not in json.dumps(message)


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    missing = run_replay(str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"replay: no such file: {tmp_path / 'missing.jsonl'}"
    ]

    source = tmp_path / "one.jsonl"
    source.write_text(SPEC_CASE.read_text().splitlines()[0] + "\n")
    unreachable = run_replay(
        str(source), "--bootstrap-server", f"127.0.0.1:{free_port()}"
    )
    assert unreachable.returncode == 2
    assert "Traceback" not in unreachable.stderr
    assert unreachable.stderr.strip().splitlines()[-1].startswith("replay: cannot send")


def test_a_har_entry_with_a_malformed_url_is_skipped_and_the_rest_sent(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    def entry(url: str) -> dict:
        return {
            "request": {"method": "GET", "url": url, "headers": []},
            "response": {"status": 200, "headers": [], "content": {}},
        }

    urls = ["http://api.test/a", "http://[::1/x", "http://api.test/b"]
    source = tmp_path / "capture.har"
    source.write_text(json.dumps({"log": {"entries": [entry(u) for u in urls]}}))

    done = run_replay(
        str(source), "--bootstrap-server", kafka_bootstrap, "--topic", kafka_topic
    )

    assert done.returncode == 0, done.stderr
    assert "sent 2 exchanges" in done.stdout
    assert "skipped 1 entries" in done.stderr
    messages = consume(kafka_bootstrap, kafka_topic, 2)
    assert sorted(m["request"]["pathname"] for m in messages) == ["/a", "/b"]


def test_lines_the_reader_would_refuse_are_skipped_and_counted(
    tmp_path: Path, caplog
) -> None:
    good = SPEC_CASE.read_text().splitlines()[0]
    wrong_query = {
        "request": {"method": "get", "pathname": "/p", "query": {"a": 1}},
        "response": {"statusCode": 200},
    }
    source = tmp_path / "mixed.jsonl"
    source.write_text(f"{json.dumps(wrong_query)}\n{good}\n")

    exchanges = list(read_exchanges(source))

    assert exchanges == [json.loads(good)]
    assert "skipped 1 entries" in caplog.text
    assert "wrong_types" in caplog.text


def test_a_byte_order_mark_before_the_first_line_is_ignored(tmp_path: Path) -> None:
    lines = SPEC_CASE.read_text().splitlines()[:2]
    source = tmp_path / "bom.txt"
    source.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")

    assert list(read_exchanges(source)) == [json.loads(line) for line in lines]


def test_what_the_spec_reader_takes_is_read_gzip_and_arrays_too(tmp_path: Path) -> None:
    lines = SPEC_CASE.read_text().splitlines()[:3]
    packed = tmp_path / "recordings.jsonl.gz"
    packed.write_bytes(gzip.compress("\n".join(lines).encode() + b"\n"))
    array = tmp_path / "export.json"
    array.write_text(json.dumps([json.loads(line) for line in lines], indent=2))

    expected = [json.loads(line) for line in lines]
    assert list(read_exchanges(packed)) == expected
    assert list(read_exchanges(array)) == expected


def test_a_file_without_any_exchange_is_a_failure(tmp_path: Path) -> None:
    source = tmp_path / "junk.jsonl"
    source.write_text("not json\n{}\n")

    done = run_replay(
        str(source), "--bootstrap-server", f"127.0.0.1:{free_port()}", "--topic", "t"
    )

    assert done.returncode == 1
    assert "replay: no exchange in" in done.stderr


@pytest.mark.parametrize("topic", ["", "bad/topic"])
def test_a_topic_name_kafka_refuses_is_one_line(tmp_path: Path, topic: str) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text(SPEC_CASE.read_text().splitlines()[0] + "\n")

    done = run_replay(
        str(source), "--bootstrap-server", f"127.0.0.1:{free_port()}", "--topic", topic
    )

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "topic name" in done.stderr
