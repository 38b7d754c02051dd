"""Option defaults from the environment."""

from pathlib import Path

import pytest

from spec_from_stream.config import ConfigError, defaults_from_env


def test_without_environment_the_defaults_are_local_kafka_and_spec_folder():
    defaults = defaults_from_env({})

    assert defaults.bootstrap_servers == "localhost:9092"
    assert defaults.topic == "http_recordings"
    assert defaults.out_dir == Path("spec")
    assert defaults.serve_port is None
    assert defaults.serve_host == "127.0.0.1"
    # the live reader then takes a group of its own, named after --out
    assert defaults.group_id is None


def test_compose_environment_sets_every_default():
    defaults = defaults_from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka:29092",
            "RECORDING_TOPIC": "t1",
            "SPEC_OUT_DIR": "/app/spec",
            "SPEC_SERVE_PORT": "8080",
            "SPEC_SERVE_HOST": "0.0.0.0",
            "SPEC_GROUP_ID": "g1",
        }
    )

    assert defaults.bootstrap_servers == "kafka:29092"
    assert defaults.topic == "t1"
    assert defaults.out_dir == Path("/app/spec")
    assert defaults.serve_port == 8080
    assert defaults.serve_host == "0.0.0.0"
    assert defaults.group_id == "g1"


@pytest.mark.parametrize("value", ["http", "0", "70000"])
def test_bad_serve_port_in_environment_is_a_config_error(value):
    with pytest.raises(ConfigError, match="SPEC_SERVE_PORT"):
        defaults_from_env({"SPEC_SERVE_PORT": value})
