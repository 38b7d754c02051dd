"""Writing documents: layout per host count, atomicity, debounce and progress."""

import json
import logging
import os

import yaml

from spec_from_stream.state import Counts
from spec_from_stream.writer import (
    Progress,
    Schedule,
    SpecWriter,
    document_paths,
    safe_host_dir,
)


def doc(title: str) -> dict:
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1"}, "paths": {}}


def test_one_host_is_written_as_openapi_yaml_and_json(tmp_path):
    written = SpecWriter(tmp_path).write({"api.test": doc("api.test")})

    assert written == [tmp_path / "openapi.yaml"]
    assert yaml.safe_load((tmp_path / "openapi.yaml").read_text()) == doc("api.test")
    assert json.loads((tmp_path / "openapi.json").read_text()) == doc("api.test")
    assert sorted(os.listdir(tmp_path)) == ["openapi.json", "openapi.yaml"]


def test_several_hosts_get_a_folder_each(tmp_path):
    documents = {"a.test": doc("a"), "b.test:8080": doc("b")}

    SpecWriter(tmp_path).write(documents)

    assert json.loads((tmp_path / "a.test" / "openapi.json").read_text()) == doc("a")
    b_yaml = tmp_path / "b.test_8080" / "openapi.yaml"
    assert yaml.safe_load(b_yaml.read_text()) == doc("b")
    assert not (tmp_path / "openapi.yaml").exists()


def test_second_host_replaces_the_single_host_layout(tmp_path):
    writer = SpecWriter(tmp_path)
    writer.write({"a.test": doc("a")})

    writer.write({"a.test": doc("a"), "b.test": doc("b")})

    assert sorted(os.listdir(tmp_path)) == ["a.test", "b.test"]


def test_listener_gets_the_json_of_each_host(tmp_path):
    seen = []
    SpecWriter(tmp_path, seen.append).write({"a.test": doc("a")})

    assert [json.loads(seen[0]["a.test"])] == [doc("a")]


def test_host_names_become_safe_folder_names():
    assert safe_host_dir("API.Example.test:8443") == "api.example.test_8443"
    assert safe_host_dir("../../etc") == "etc"
    assert safe_host_dir("..") == "host"
    assert safe_host_dir(".state") == "state"
    assert "/" not in safe_host_dir("a/b\\c d")


def test_hosts_that_map_to_one_folder_still_get_distinct_folders():
    paths = document_paths(["a.test:80", "a.test_80", "x"])

    folders = {path.parent for path in paths.values()}
    assert len(folders) == 3


def test_a_look_alike_host_cannot_take_the_real_hosts_folder():
    for hosts in (
        ["api.example.com", ".api.example.com"],
        [".api.example.com", "api.example.com"],
        ["api.example.com", "api.example.com."],
    ):
        paths = document_paths(hosts)
        assert paths["api.example.com"].parent.name == "api.example.com"
        assert len({path.parent for path in paths.values()}) == len(hosts)


def test_a_suffixed_folder_never_meets_another_hosts_folder():
    # "x:" maps to "x", then to "x-" and its digest, which is a host here too
    paths = document_paths(["x", "x-92590000", "x:"])

    assert len({path.parent for path in paths.values()}) == 3
    assert paths["x-92590000"].parent.name == "x-92590000"


def test_schedule_writes_at_most_once_per_interval_and_only_when_changed():
    schedule = Schedule(interval=1.0)
    assert not schedule.due(0.0)

    schedule.mark()
    assert schedule.due(0.0)
    schedule.done(0.0)

    schedule.mark()
    assert not schedule.due(0.5)
    assert schedule.due(1.0)
    schedule.done(1.0)
    assert not schedule.due(5.0)


def test_schedule_writes_less_often_while_the_reader_is_behind():
    schedule = Schedule(interval=1.0, behind_interval=5.0)
    schedule.mark()
    schedule.done(0.0)

    schedule.pace(behind=True)
    schedule.mark()
    assert not schedule.due(4.0)
    assert schedule.due(5.0)

    schedule.pace(behind=False)
    assert schedule.due(1.0)


def test_progress_logs_when_counts_move_and_interval_passed(caplog):
    progress = Progress(interval=5.0)
    counts = Counts(read=10)
    caplog.set_level(logging.INFO, logger="spec_from_stream.writer")

    asked = []

    def operations(count):
        def count_them():
            asked.append(count)
            return count

        return count_them

    assert progress.maybe_log(0.0, counts, operations(3))
    counts.read = 20
    assert not progress.maybe_log(1.0, counts, operations(3))
    assert progress.maybe_log(6.0, counts, operations(4))
    assert not progress.maybe_log(20.0, counts, operations(4))
    # counting operations resolves every path: only done for a line logged
    assert asked == [3, 4]

    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1] == "progress: 20 messages read, 0 skipped, 4 operations"
    assert len(lines) == 2


def test_progress_of_a_resumed_reader_waits_for_new_messages():
    progress = Progress(interval=5.0, read=10)

    assert not progress.maybe_log(0.0, Counts(read=10), lambda: 3)
    assert progress.maybe_log(0.0, Counts(read=11), lambda: 3)
