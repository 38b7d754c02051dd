"""--follow: a JSON Lines file read as it grows, through truncation and rotation."""

import gzip
import os
import shutil
import signal
import time

import pytest
import requests
import yaml

from spec_from_stream import follow
from spec_from_stream.exchange import BadMessage
from spec_from_stream.follow import FollowedFile
from spec_from_stream.sources import SourceError
from tests.conftest import free_port, sigterm_log
from tests.server.test_main import start_server
from tests.spec_from_stream.test_cli import assert_one_line_error, run_cli, start_cli
from tests.spec_from_stream.test_state import take_over


def line(path: str) -> bytes:
    return (
        b'{"request": {"method": "get", "host": "api.test", "pathname": "'
        + path.encode()
        + b'"}, "response": {"statusCode": 200}}\n'
    )


def paths_of(messages: list) -> list[str]:
    return [
        message.split(b'"pathname": "')[1].split(b'"')[0].decode()
        for message, _ in messages
    ]


def read_a(tmp_path) -> tuple:
    """A followed file that held one line, /a, read already."""
    path = tmp_path / "rec.jsonl"
    path.write_bytes(line("/a"))
    lines = FollowedFile(path)
    assert paths_of(lines.read()) == ["/a"]
    return path, lines


def append(path, data: bytes) -> None:
    with path.open("ab") as stream:
        stream.write(data)


def test_lines_already_there_then_appended_ones(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(line("/a") + b"\n" + line("/b"))
    lines = FollowedFile(path)

    first = lines.read()
    assert paths_of(first) == ["/a", "/b"]
    assert [where for _, where in first] == ["line 1", "line 3"]
    assert lines.read() == []

    append(path, line("/c"))
    assert paths_of(lines.read()) == ["/c"]
    lines.close()


def test_a_line_still_being_written_waits_for_its_end(tmp_path):
    path = tmp_path / "rec.jsonl"
    whole = line("/a")
    path.write_bytes(whole[:20])
    lines = FollowedFile(path)

    assert lines.read() == []
    append(path, whole[20:40])
    assert lines.read() == []
    append(path, whole[40:])
    assert lines.read() == [(whole, "line 1")]
    lines.close()


def test_a_truncated_file_is_read_again_from_its_start(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(line("/a") + line("/b"))
    lines = FollowedFile(path)
    assert paths_of(lines.read()) == ["/a", "/b"]

    path.write_bytes(line("/c"))

    assert paths_of(lines.read()) == ["/c"]
    lines.close()


def test_a_file_rewritten_to_the_same_size_is_read_again(tmp_path):
    path, lines = read_a(tmp_path)
    assert lines.read() == []
    before = path.stat().st_mtime_ns

    # truncated, then written again up to the very size that was read
    path.write_bytes(line("/b"))
    os.utime(path, ns=(before + 10**9, before + 10**9))

    assert paths_of(lines.read()) == ["/b"]
    # no change since: nothing is read twice
    assert lines.read() == []
    lines.close()


def test_a_rotated_file_is_read_to_its_end_then_the_new_one(tmp_path):
    path, lines = read_a(tmp_path)

    # the writer still appends to the old file after it was renamed
    path.rename(tmp_path / "rec.jsonl.1")
    append(tmp_path / "rec.jsonl.1", line("/b"))
    assert paths_of(lines.read()) == ["/b"]
    path.write_bytes(line("/c"))

    assert paths_of(lines.read()) == ["/c"]
    lines.close()


def test_a_missing_file_is_waited_for(tmp_path, caplog):
    path = tmp_path / "later.jsonl"
    lines = FollowedFile(path)

    with caplog.at_level("INFO"):
        assert lines.read() == []
        assert lines.read() == []
    assert caplog.text.count("waiting for") == 1

    path.write_bytes(line("/a"))
    assert paths_of(lines.read()) == ["/a"]
    lines.close()


def test_a_line_too_long_is_skipped_without_being_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "MAX_LINE_BYTES", 100)
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"x" * 150)
    lines = FollowedFile(path)

    assert lines.read() == []
    append(path, b"y" * 300 + b"\n" + line("/a")[:10])
    [(skipped, where)] = lines.read()
    assert isinstance(skipped, BadMessage) and skipped.kind == "too_large"
    assert where == "line 1"
    append(path, line("/a")[10:])
    assert lines.read() == [(line("/a"), "line 2")]
    lines.close()


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("rec.jsonl.gz", gzip.compress(line("/a")), "compressed"),
        ("rec.har", b'{"log": {"entries": []}}', "HAR"),
        ("rec.jsonl", line("/a").decode().encode("utf-16-le"), "UTF-16"),
        ("rec.json", b"[" + line("/a") + b"]", "JSON array"),
    ],
    ids=["gzip", "har", "utf16", "array"],
)
def test_what_cannot_grow_line_by_line_is_refused(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(SourceError, match=fragment):
        FollowedFile(path).read()


def wait_for_paths(document_path, expected: set[str], process) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        if document_path.exists():
            document = yaml.safe_load(document_path.read_text())
            if document and expected <= set(document["paths"]):
                return document
        time.sleep(0.1)
    raise AssertionError(f"{expected} never showed up in {document_path}")


def following_a(tmp_path) -> tuple:
    """A --follow command line that wrote /a from its file: (file, out, process)."""
    recording = tmp_path / "rec.jsonl"
    recording.write_bytes(line("/a"))
    out = tmp_path / "spec"
    process = start_cli("--input", str(recording), "--follow", "--out", str(out))
    try:
        wait_for_paths(out / "openapi.yaml", {"/a"}, process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return recording, out, process


def test_the_command_line_follows_a_file_until_sigterm(tmp_path):
    recording, out, process = following_a(tmp_path)
    try:
        append(recording, line("/b") + b"not json\n")
        wait_for_paths(out / "openapi.yaml", {"/a", "/b"}, process)

        log = sigterm_log(process)
    finally:
        process.kill()
        process.wait()
    assert "stopped: 3 messages read, 1 skipped" in log
    # it kept nothing to resume from, and let go of the folder
    assert not (out / ".state" / "state.json").exists()
    done = run_cli("--input", str(recording), "--out", str(out))
    assert done.returncode == 0, done.stderr


def test_recordings_of_the_demo_server_show_up_as_they_are_made(tmp_path):
    recording = tmp_path / "rec.jsonl"
    port = free_port()
    server = start_server(port, recording)
    out = tmp_path / "spec"
    reader = start_cli("--input", str(recording), "--follow", "--out", str(out))
    try:
        requests.get(f"http://127.0.0.1:{port}/users/1", timeout=5)
        wait_for_paths(out / "openapi.yaml", {"/users"}, reader)
        requests.post(
            f"http://127.0.0.1:{port}/users",
            json={"name": "Ada", "email": "ada@example.com"},
            timeout=5,
        )
        document = wait_for_paths(out / "openapi.yaml", {"/users"}, reader)
        deadline = time.monotonic() + 60
        while "post" not in document["paths"]["/users"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
            document = wait_for_paths(out / "openapi.yaml", {"/users"}, reader)
    finally:
        for process in (reader, server):
            process.send_signal(signal.SIGTERM)
        for process in (reader, server):
            try:
                process.wait(timeout=60)
            finally:
                process.kill()
    assert "ada@example.com" not in (out / "openapi.yaml").read_text()


@pytest.mark.parametrize(
    "args",
    [["--follow"], ["--follow", "--input", "-"]],
    ids=["no-input", "standard-input"],
)
def test_follow_without_a_file_is_one_line(tmp_path, args):
    done = run_cli(*args, "--out", str(tmp_path / "spec"))

    assert_one_line_error(done, "--follow needs --input FILE")


def test_following_a_compressed_file_is_one_line(tmp_path):
    recording = tmp_path / "rec.jsonl.gz"
    recording.write_bytes(gzip.compress(line("/a")))

    done = run_cli("--input", str(recording), "--follow", "--out", str(tmp_path / "s"))

    assert_one_line_error(done, "compressed", "without --follow")


def test_a_touched_file_is_not_read_again(tmp_path):
    path, lines = read_a(tmp_path)
    assert lines.read() == []
    later = path.stat().st_mtime_ns + 10**9

    os.utime(path, ns=(later, later))

    assert lines.read() == []
    lines.close()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_what_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind):
    path = tmp_path / "rec.jsonl"
    if kind == "fifo":
        # nobody writes to it: opening it to read would wait for ever
        os.mkfifo(path)
    else:
        path.mkdir()

    with pytest.raises(SourceError, match="not a regular file"):
        FollowedFile(path).read()


def test_a_long_file_is_caught_up_with_fewer_writes(tmp_path, monkeypatch):
    import threading

    from spec_from_stream.reader import BuildOptions
    from spec_from_stream.writer import Schedule

    monkeypatch.setattr(follow, "FOLLOW_BATCH", 2)
    paced: list[bool] = []
    pace = Schedule.pace
    monkeypatch.setattr(
        Schedule,
        "pace",
        lambda self, behind: paced.append(behind) or pace(self, behind),
    )
    recording = tmp_path / "rec.jsonl"
    recording.write_bytes(b"".join(line(f"/p{n}") for n in range(5)))
    stop = threading.Event()
    written: list[dict] = []
    runner = threading.Thread(
        target=follow.follow_file,
        args=(recording, tmp_path / "spec", BuildOptions(), stop, written.append),
    )
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while False not in paced and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        runner.join(60)
    # two full batches, then the last line and the quiet reads after it
    assert paced[:3] == [True, True, False]
    assert not runner.is_alive()


def test_a_file_cut_and_refilled_beyond_the_old_end_is_read_from_its_start(tmp_path):
    path, lines = read_a(tmp_path)
    assert lines.read() == []

    # in one go, between two reads: longer than what was read before
    path.write_bytes(b"".join(line(f"/new{n}") for n in range(3)))

    assert paths_of(lines.read()) == ["/new0", "/new1", "/new2"]
    lines.close()


def test_lines_written_to_the_renamed_file_are_read_before_the_new_file(tmp_path):
    path, lines = read_a(tmp_path)

    path.rename(tmp_path / "rec.jsonl.1")
    path.write_bytes(line("/new"))
    # the writer had not reopened yet
    append(tmp_path / "rec.jsonl.1", line("/late"))

    assert paths_of(lines.read()) == ["/late"]
    assert paths_of(lines.read()) == ["/new"]
    lines.close()


def test_a_huge_line_is_read_in_bounded_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "MAX_LINE_BYTES", 200)
    monkeypatch.setattr(follow, "READ_BYTES", 1000)
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"x" * 5000 + b"\n" + line("/a"))
    lines = FollowedFile(path)

    # each call stops after its byte budget, so a stop request is seen between
    calls = [lines.read()]
    assert calls[0] == [] and not lines.at_end
    calls += [lines.read() for _ in range(10)]
    skipped = [message for batch in calls for message, _ in batch]
    assert skipped[0].kind == "too_large"
    assert skipped[1] == line("/a")
    lines.close()


def test_a_reader_taking_over_a_deleted_folder_stops_the_follower(tmp_path):
    recording, out, process = following_a(tmp_path)
    try:
        (out / "openapi.yaml").unlink()
        newcomer = take_over(out)
        append(recording, line("/b"))
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 2
    assert "another reader took" in stderr.splitlines()[-1]
    # it wrote nothing more into the folder the newcomer holds
    assert not (out / "openapi.yaml").exists()
    os.close(newcomer)


def test_a_deleted_folder_is_locked_again_at_once(tmp_path):
    recording, out, process = following_a(tmp_path)
    try:
        shutil.rmtree(out)
        # without a line to read, the follower still takes the folder back
        deadline = time.monotonic() + 60
        while not (out / ".state" / "lock").exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        later = run_cli("--input", str(recording), "--follow", "--out", str(out))
        log = sigterm_log(process)
    finally:
        process.kill()
        process.wait()
    assert_one_line_error(later, "another reader is using")
    assert "locked it again" in log
