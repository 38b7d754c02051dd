"""The per-process counters and their rate-limited log line."""

import logging

import pytest

from recorder.stats import Counters


def test_counts_and_snapshot() -> None:
    counters = Counters()
    counters.add("recorded", 3)
    counters.add("delivered", 2)
    counters.add("dropped")
    assert counters.snapshot() == {
        "recorded": 3,
        "delivered": 2,
        "dropped": 1,
        "failed": 0,
        "skipped": 0,
    }


def test_log_line_only_when_changed_and_warning_on_losses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = Counters()
    counters._last_log = 0.0
    with caplog.at_level(logging.INFO, logger="recorder.stats"):
        counters.maybe_log()
        assert caplog.records == []  # nothing changed yet

        counters.add("recorded")
        counters.add("delivered")
        counters.maybe_log(pending=0)
        assert caplog.records[-1].levelno == logging.INFO
        assert "recorded=1 delivered=1" in caplog.records[-1].getMessage()

        counters.add("recorded")
        counters.add("dropped")
        counters._last_log = 0.0
        counters.maybe_log()
        assert caplog.records[-1].levelno == logging.WARNING

        # within the interval: no new line
        counters.add("recorded")
        counters.maybe_log()
        assert len(caplog.records) == 2
