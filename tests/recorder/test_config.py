"""Recorder options from the environment and from code."""

import pytest

from recorder.config import RecorderOptions


def test_defaults() -> None:
    options = RecorderOptions.from_env({})
    assert options.sink == "kafka"
    assert options.bootstrap_servers == "localhost:9092"
    assert options.topic == "http_recordings"
    assert options.max_body_bytes == 64 * 1024
    assert "/healthz" in options.skip_paths and options.skip_methods == ("OPTIONS",)


def test_environment_variables() -> None:
    options = RecorderOptions.from_env(
        {
            "RECORDER_SINK": "file:out.jsonl",
            "RECORDER_MAX_BODY_BYTES": "100",
            "RECORDER_SAMPLE_RATE": "0.25",
            "RECORDER_SKIP_PATHS": "/metrics, /static/*",
            "RECORDER_REDACT_FIELDS": "ssn,Password",
            "RECORDER_RECORD_BODIES": "false",
        }
    )
    assert options.sink == "file:out.jsonl"
    assert options.max_body_bytes == 100
    assert options.sample_rate == 0.25
    assert options.skip_paths == ("/metrics", "/static/*")
    assert options.redact_fields == frozenset({"ssn", "password"})
    assert options.record_bodies is False


def test_overrides_win_and_are_checked() -> None:
    options = RecorderOptions.from_env({"RECORDER_SINK": "off"}, sink="memory")
    assert options.sink == "memory"
    with pytest.raises(TypeError, match="unknown recorder option"):
        RecorderOptions().with_overrides(colour="red")
    with pytest.raises(ValueError, match="sample_rate"):
        RecorderOptions().with_overrides(sample_rate=2)
    with pytest.raises(ValueError, match="sink"):
        RecorderOptions().with_overrides(sink="carrier-pigeon")
    with pytest.raises(ValueError, match="RECORDER_QUEUE_SIZE"):
        RecorderOptions.from_env({"RECORDER_QUEUE_SIZE": "many"})


def test_in_flight_caps() -> None:
    options = RecorderOptions.from_env(
        {"RECORDER_MAX_IN_FLIGHT": "50", "RECORDER_MAX_IN_FLIGHT_BYTES": "4096"}
    )
    assert (options.max_in_flight, options.max_in_flight_bytes) == (50, 4096)
    with pytest.raises(ValueError, match="max_in_flight"):
        RecorderOptions().with_overrides(max_in_flight=0)
