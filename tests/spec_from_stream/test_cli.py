"""The command line, run as a subprocess the way users run it."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml
from openapi_spec_validator import validate

from spec_from_stream.__main__ import UsageError, load_initial_spec, parse_args
from spec_from_stream.config import defaults_from_env
from tests.conftest import ROOT, SHARED, free_port

TUTORIAL = SHARED / "cases" / "spec" / "10-tutorial-users" / "input.jsonl"


def run_cli(*args: str, env: dict | None = None, timeout: float = 120):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPEC_")}
    return subprocess.run(
        [sys.executable, "-m", "spec_from_stream", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start the command line in the background, its stderr piped."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPEC_")}
    return subprocess.Popen(
        [sys.executable, "-m", "spec_from_stream", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_line_error(done, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("spec_from_stream: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_explains_every_option_and_environment_variable():
    done = run_cli("--help")

    assert done.returncode == 0
    for text in (
        "--bootstrap-server",
        "--topic",
        "--group-id",
        "--input",
        "--follow",
        "--out",
        "--openapi-version",
        "--initial-spec",
        "--serve",
        "--serve-host",
        "--examples",
        "KAFKA_BOOTSTRAP_SERVERS",
        "RECORDING_TOPIC",
        "SPEC_OUT_DIR",
        "SPEC_SERVE_PORT",
        "SPEC_SERVE_HOST",
        "SIGTERM",
    ):
        assert text in done.stdout


def test_with_no_arguments_and_no_environment_it_reads_local_kafka():
    args = parse_args([], defaults_from_env({}))

    assert args.input is None
    assert args.bootstrap_server == "localhost:9092"
    assert args.topic == "http_recordings"
    assert str(args.out) == "spec"
    assert args.serve is None
    # 3.1, or the initial spec's own version
    assert args.openapi_version is None


def test_json_lines_file_builds_a_valid_document_and_exits(tmp_path):
    done = run_cli("--input", str(TUTORIAL), "--out", str(tmp_path / "spec"))

    assert done.returncode == 0, done.stderr
    document = yaml.safe_load((tmp_path / "spec" / "openapi.yaml").read_text())
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert json.loads((tmp_path / "spec" / "openapi.json").read_text()) == document
    assert "done: 8 messages read, 0 skipped" in done.stderr
    assert not (tmp_path / "spec" / ".state").exists()


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_json_lines_from_standard_input_with_a_dash(tmp_path, packed):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPEC_")}
    lines = TUTORIAL.read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "spec_from_stream", "--input", "-"]
        + ["--out", str(tmp_path / "spec")],
        cwd=ROOT,
        env=clean,
        input=gzip.compress(lines) if packed else lines,
        capture_output=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    document = yaml.safe_load((tmp_path / "spec" / "openapi.yaml").read_text())
    assert "/users/{userId}" in document["paths"]
    assert b"done: 8 messages read, 0 skipped" in done.stderr


def test_openapi_30_on_request(tmp_path):
    done = run_cli(
        "--input", str(TUTORIAL), "--out", str(tmp_path), "--openapi-version", "3.0"
    )

    assert done.returncode == 0, done.stderr
    document = yaml.safe_load((tmp_path / "openapi.yaml").read_text())
    validate(document)
    assert document["openapi"].startswith("3.0")


def test_har_file_builds_one_document_per_host(tmp_path):
    def entry(url: str, status: int) -> dict:
        return {
            "startedDateTime": "2026-01-05T10:00:00Z",
            "time": 3,
            "request": {"method": "GET", "url": url, "headers": []},
            "response": {
                "status": status,
                "headers": [{"name": "Content-Type", "value": "application/json"}],
                "content": {"mimeType": "application/json", "text": '{"ok": true}'},
            },
        }

    har = tmp_path / "capture.har"
    har.write_text(
        json.dumps(
            {
                "log": {
                    "entries": [
                        entry("http://a.test/items", 200),
                        entry("https://b.test:8443/orders", 200),
                        {"request": "broken"},
                    ]
                }
            },
            indent=2,
        )
    )

    done = run_cli("--input", str(har), "--out", str(tmp_path / "spec"))

    assert done.returncode == 0, done.stderr
    a_doc = yaml.safe_load((tmp_path / "spec" / "a.test" / "openapi.yaml").read_text())
    b_doc = json.loads((tmp_path / "spec" / "b.test_8443" / "openapi.json").read_text())
    validate(a_doc)
    validate(b_doc)
    assert list(a_doc["paths"]) == ["/items"]
    assert list(b_doc["paths"]) == ["/orders"]
    assert "3 messages read, 1 skipped" in done.stderr


def test_a_browser_capture_documents_its_api_calls_only(tmp_path):
    def entry(url: str, kind: str, media: str, status: int = 200) -> dict:
        return {
            "_resourceType": kind,
            "request": {"method": "GET", "url": url},
            "response": {"status": status, "content": {"mimeType": media}},
        }

    har = tmp_path / "browser.har"
    entries = [
        entry("http://a.test/", "document", "text/html"),
        entry("http://a.test/static/app.js", "script", "text/javascript"),
        entry("http://a.test/static/logo.png", "image", "image/png"),
        entry("http://a.test/api/items", "xhr", "application/json"),
        entry("http://a.test/api/items/7", "fetch", "application/json"),
        # blocked by the browser, and cancelled before an answer came
        entry("http://tracker.test/collect", "xhr", "", status=0),
        entry("http://a.test/api/search", "fetch", "", status=0),
    ]
    har.write_text(json.dumps({"log": {"entries": entries}}))

    done = run_cli("--input", str(har), "--out", str(tmp_path / "spec"))

    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in (tmp_path / "spec").iterdir()) == [
        "openapi.json",
        "openapi.yaml",
    ]
    document = yaml.safe_load((tmp_path / "spec" / "openapi.yaml").read_text())
    assert sorted(document["paths"]) == ["/api/items", "/api/items/{itemId}"]
    assert "7 messages read, 5 skipped (no_response 2, page_asset 3)" in done.stderr
    assert "skipping the page's own files" in done.stderr
    assert "skipping requests the browser got no answer for" in done.stderr
    assert "WARNING" not in done.stderr


def test_initial_spec_is_read_and_bad_ones_are_refused(tmp_path):
    initial = tmp_path / "initial.yaml"
    initial.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
    ok = run_cli(
        "--input",
        str(TUTORIAL),
        "--out",
        str(tmp_path / "o"),
        "--initial-spec",
        str(initial),
    )
    assert ok.returncode == 0, ok.stderr

    missing = run_cli("--input", str(TUTORIAL), "--initial-spec", "nope.yaml")
    assert_one_line_error(missing, "initial spec not found")
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    bad = run_cli(
        "--input", str(TUTORIAL), "--initial-spec", str(tmp_path / "bad.yaml")
    )
    assert_one_line_error(bad, "not an OpenAPI document")


def test_initial_spec_dates_and_number_keys_are_written_alike_in_yaml_and_json(
    tmp_path,
):
    initial = tmp_path / "initial.yaml"
    initial.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: 2024-01-01}\n"
        "paths:\n  /a:\n    get:\n      responses: {200: {description: ok}}\n"
    )
    done = run_cli(
        "--input", str(TUTORIAL), "--out", str(tmp_path / "o"),
        "--initial-spec", str(initial),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = yaml.safe_load((tmp_path / "o" / "openapi.yaml").read_text())
    assert written == json.loads((tmp_path / "o" / "openapi.json").read_text())
    assert written["info"]["version"] == "2024-01-01"
    assert "200" in written["paths"]["/a"]["get"]["responses"]


def test_initial_spec_json_cannot_hold_is_refused(tmp_path):
    initial = tmp_path / "initial.yaml"
    initial.write_text("openapi: 3.1.0\nx-blob: !!binary aGVsbG8=\n")
    with pytest.raises(UsageError, match="cannot be written as JSON"):
        load_initial_spec(initial)


def test_missing_input_file_is_one_line(tmp_path):
    done = run_cli("--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path))

    assert_one_line_error(done, "input file not found")


@pytest.mark.parametrize(
    "options",
    [["--topic", "other"], ["--bootstrap-server", "127.0.0.1:1"], ["--single-process"]],
)
def test_kafka_options_with_an_input_file_are_one_line(tmp_path, options):
    done = run_cli("--input", str(TUTORIAL), "--out", str(tmp_path), *options)

    assert_one_line_error(done, options[0], "only to reading Kafka")
    assert not (tmp_path / "openapi.yaml").exists()


def test_kafka_settings_in_the_environment_go_with_an_input_file(tmp_path):
    done = run_cli(
        "--input",
        str(TUTORIAL),
        "--out",
        str(tmp_path),
        env={"RECORDING_TOPIC": "other", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
    )

    assert done.returncode == 0, done.stderr


def test_an_empty_input_name_is_one_line(tmp_path):
    done = run_cli("--input", "", "--out", str(tmp_path))

    assert_one_line_error(done, "--input", "no file name given")


def test_a_file_named_dash_is_read_as_a_file(tmp_path):
    (tmp_path / "-").write_bytes(TUTORIAL.read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "spec_from_stream", "--input", "./-"]
        + ["--out", str(tmp_path / "spec")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert b"done: 8 messages read, 0 skipped" in done.stderr


def test_input_without_any_exchange_writes_nothing(tmp_path):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"nope\n\xff\xfe\n[1]\n")

    done = run_cli("--input", str(garbage), "--out", str(tmp_path / "spec"))

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "no usable exchange" in done.stderr
    assert not (tmp_path / "spec" / "openapi.yaml").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--openapi-version", "2.0"], "--openapi-version"),
        (["--serve", "http"], "not a port number"),
        (["--connect-timeout", "-1"], "must be positive"),
    ],
)
def test_bad_options_are_one_line(args, fragment):
    assert_one_line_error(run_cli(*args), fragment)


def test_bad_environment_is_one_line():
    done = run_cli("--input", str(TUTORIAL), env={"SPEC_SERVE_PORT": "web"})

    assert_one_line_error(done, "SPEC_SERVE_PORT")


def test_unreachable_broker_is_one_line_after_the_wait(tmp_path):
    done = run_cli(
        "--bootstrap-server",
        f"127.0.0.1:{free_port()}",
        "--connect-timeout",
        "2",
        "--out",
        str(tmp_path),
    )

    assert_one_line_error(done, "cannot reach Kafka", "within 2s")


def test_silent_broker_is_one_line_after_the_wait(tmp_path):
    import socket

    # the kernel accepts connections into the backlog; nothing ever answers
    with socket.create_server(("127.0.0.1", 0)) as silent:
        done = run_cli(
            "--bootstrap-server",
            f"127.0.0.1:{silent.getsockname()[1]}",
            "--connect-timeout",
            "2",
            "--out",
            str(tmp_path),
        )

    assert_one_line_error(done, "cannot reach Kafka", "within 2s")


def test_busy_viewer_port_is_one_line(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli(
            "--input", str(TUTORIAL), "--out", str(tmp_path), "--serve", str(port)
        )

    assert_one_line_error(done, f"cannot serve on 127.0.0.1:{port}")


def test_file_mode_with_viewer_serves_until_interrupted(tmp_path):
    port = free_port()
    process = start_cli(
        "--input",
        str(TUTORIAL),
        "--out",
        str(tmp_path),
        env={"SPEC_SERVE_PORT": str(port)},
    )
    try:
        # the viewer answers 404 until the document is built: wait for it
        deadline = time.monotonic() + 60
        served = None
        while served is None or served.status_code != 200:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.2)
            try:
                served = requests.get(
                    f"http://127.0.0.1:{port}/openapi.json", timeout=5
                )
            except requests.ConnectionError:
                served = None
        on_disk = json.loads((tmp_path / "openapi.json").read_text())
        assert served.json() == on_disk

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("out", ["/dev/null", "file", "file/spec"])
def test_an_unwritable_out_is_one_line(tmp_path, out):
    (tmp_path / "file").write_text("mine")
    target = out if out.startswith("/") else str(tmp_path / out)

    done = run_cli("--input", str(TUTORIAL), "--out", target)

    assert_one_line_error(done, target)
    assert (tmp_path / "file").read_text() == "mine"


def test_a_live_reader_with_an_unwritable_out_stops_at_once(tmp_path):
    (tmp_path / "file").write_text("mine")

    done = run_cli(
        "--bootstrap-server",
        f"127.0.0.1:{free_port()}",
        "--connect-timeout",
        "2",
        "--out",
        str(tmp_path / "file" / "spec"),
    )

    assert_one_line_error(done, "cannot write to")


def test_a_full_disk_in_file_mode_is_one_line(tmp_path, monkeypatch, capsys):
    import errno

    from spec_from_stream import __main__ as cli

    def full(path, data, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("spec_from_stream.writer.write_atomic", full)

    status = cli.main(["--input", str(TUTORIAL), "--out", str(tmp_path / "o")])

    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("spec_from_stream: error: cannot write ")
    assert error.endswith("No space left on device")


def test_a_render_failure_in_file_mode_is_not_a_success(tmp_path, monkeypatch):
    from spec_from_stream import __main__ as cli
    from spec_from_stream.builder import SpecBuilder

    def broken(self, version):
        raise RuntimeError("render bug")

    monkeypatch.setattr(SpecBuilder, "render", broken)

    assert cli.main(["--input", str(TUTORIAL), "--out", str(tmp_path / "o")]) == 1


@pytest.mark.parametrize("single_process", [False, True])
@pytest.mark.parametrize(
    ("topic", "fragment"),
    [("", "topic name cannot be empty"), ("bad/name", "invalid topic name")],
)
def test_a_topic_name_kafka_refuses_is_one_line(
    tmp_path, topic, fragment, single_process
):
    done = run_cli(
        "--bootstrap-server",
        f"127.0.0.1:{free_port()}",
        "--connect-timeout",
        "2",
        "--topic",
        topic,
        "--out",
        str(tmp_path),
        *(["--single-process"] if single_process else []),
    )

    assert_one_line_error(done, fragment)


def test_a_bad_topic_in_the_environment_is_one_line(tmp_path):
    done = run_cli("--out", str(tmp_path), env={"RECORDING_TOPIC": "a topic"})

    assert_one_line_error(done, "invalid topic name 'a topic'")


def build_with_initial(tmp_path, text: str, *extra: str):
    initial = tmp_path / "initial.yaml"
    initial.write_text(text)
    out = tmp_path / "out"
    done = run_cli(
        "--input",
        str(TUTORIAL),
        "--out",
        str(out),
        "--initial-spec",
        str(initial),
        *extra,
    )
    return done, out


def test_initial_spec_with_null_paths_starts_with_no_paths(tmp_path):
    done, out = build_with_initial(
        tmp_path, "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: null\n"
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    document = json.loads((out / "openapi.json").read_text())
    validate(document)
    assert document["paths"]


def test_initial_spec_fields_openapi_does_not_define_are_left_out(tmp_path):
    done, out = build_with_initial(
        tmp_path,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n"
        "x-team: core\nwebhooks: {}\nbogus: 1\n",
    )

    assert done.returncode == 0, done.stderr
    assert "define: webhooks, bogus" in done.stderr
    document = json.loads((out / "openapi.json").read_text())
    validate(document)
    assert "bogus" not in document
    assert "webhooks" not in document
    assert document["x-team"] == "core"


def test_initial_spec_with_a_yaml_alias_bomb_is_refused(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for name, previous in zip("bcdefg", "abcdef", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    lines += ["openapi: 3.1.0", "info: {title: t, version: '1'}", "x-bomb: *g"]

    done, out = build_with_initial(tmp_path, "\n".join(lines) + "\n")

    assert_one_line_error(done, "YAML aliases")
    assert not out.exists()


@pytest.mark.parametrize(
    ("paths", "fragment"),
    [
        ("paths: [1, 2]", "paths is not a mapping"),
        ("paths: {users: {}}", "path 'users' does not start with /"),
        ("paths: {/users: 5}", "path /users is not a mapping"),
        ("paths: {/users: {get: 5}}", "get /users is not a mapping"),
        ("paths: {}\ncomponents: [1]", "components is not a mapping"),
        ("paths: {}\ncomponents: {securitySchemes: 1}", "securitySchemes"),
        ("paths: {}\nservers: localhost", "servers is not a list"),
    ],
)
def test_initial_spec_with_parts_of_the_wrong_type_is_one_line(
    tmp_path, paths, fragment
):
    done, out = build_with_initial(
        tmp_path, f"openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\n{paths}\n"
    )

    assert_one_line_error(done, fragment)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "info: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n"
            "      operationId: [1]\n      responses: {'200': {description: ok}}",
            "$.paths['/x'].get.operationId",
        ),
        ("info: {title: t, version: '1'}\nservers: [{url: 5}]", "$.servers[0].url"),
        ("info: {}\npaths: {}", '"title" is a required property'),
        (
            "info: {title: t, version: '1'}\npaths: {}\ncomponents: {schemas: 5}",
            "$.components.schemas",
        ),
    ],
)
def test_initial_spec_openapi_does_not_allow_is_one_line(tmp_path, text, fragment):
    done, out = build_with_initial(tmp_path, f"openapi: 3.1.0\n{text}\n")

    assert_one_line_error(done, "not a valid OpenAPI document", fragment)
    assert not out.exists()


def test_initial_spec_nested_too_deeply_is_one_line(tmp_path):
    done, out = build_with_initial(tmp_path, "openapi: 3.1.0\nx: " + "[" * 5000)

    assert_one_line_error(done, "nested too deeply")


@pytest.mark.parametrize("extra", [(), ("--single-process",)], ids=["child", "one"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
def test_a_signal_while_waiting_for_the_broker_stops_the_reader_at_once(
    tmp_path, extra, sig
):
    process = start_cli(
        "--bootstrap-server",
        f"127.0.0.1:{free_port()}",
        "--connect-timeout",
        "300",
        "--out",
        str(tmp_path),
        *extra,
    )
    try:
        # the folder's lock is taken once the signal handlers are in place
        deadline = time.monotonic() + 60
        while not (tmp_path / ".state" / "lock").exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        process.send_signal(sig)
        # far less than the 300 s it would otherwise wait for the broker; a
        # live reader stopped by a signal exits 0
        status = process.wait(timeout=60)
        errors = process.stderr.read()
        assert status == 0, errors
        assert "Traceback" not in errors, errors
    finally:
        process.kill()
        process.wait()


def test_an_initial_spec_is_continued_in_its_own_openapi_version(tmp_path):
    spec_30 = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n"
    done, out = build_with_initial(tmp_path, spec_30)

    assert done.returncode == 0, done.stderr
    document = json.loads((out / "openapi.json").read_text())
    assert document["openapi"].startswith("3.0.")
    validate(document)

    # its schemas would not be valid in another version: refused, not mixed
    done, out = build_with_initial(tmp_path, spec_30, "--openapi-version", "3.1")
    assert_one_line_error(done, "is OpenAPI 3.0.3, not 3.1")
    done, out = build_with_initial(
        tmp_path, "openapi: 3.2.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
    )
    assert_one_line_error(done, "the reader writes 3.0 or 3.1")
