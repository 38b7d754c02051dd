"""`python -m server`: its help, and its one-line errors."""

import os
import subprocess

from tests.conftest import run_module


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_module("server", *args, env=env, timeout=60)


def test_help_lists_the_settings_and_starts_nothing():
    done = run("--help")

    assert done.returncode == 0
    assert "usage: python -m server" in done.stdout
    for name in ("PORT", "RECORDER_SINK", "KAFKA_BOOTSTRAP_SERVERS"):
        assert name in done.stdout
    assert "Running on" not in done.stdout + done.stderr


def test_unknown_arguments_are_refused():
    done = run("--port", "6000")

    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


def test_a_bad_setting_is_one_line():
    done = run(env={**os.environ, "PORT": "99999"})

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "server: PORT must be from 1 to 65535, got '99999'"
    ]
