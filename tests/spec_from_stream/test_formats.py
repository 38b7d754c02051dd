"""Tests for recognising string formats, path segment kinds and typed text."""

import pytest

from spec_from_stream.formats import (
    NO_FORMATS,
    segment_kind,
    split_suffix,
    still_matching,
    string_formats,
    typed_text,
)


def test_a_uuid_string_has_the_uuid_format():
    assert string_formats("0b6f5c2e-3c1a-4f4e-9a57-6d3f2b1c0a99") == {"uuid"}


def test_plain_text_has_no_format():
    assert string_formats("hello world") == NO_FORMATS


def test_a_format_is_kept_while_every_value_matches():
    formats = string_formats("ada@example.com")
    assert still_matching("grace@example.org", formats) == {"email"}
    assert still_matching("not an email", formats) == NO_FORMATS


def test_only_the_formats_a_value_still_matches_are_kept():
    # a date-time and a date both match a bare date only as date
    formats = frozenset(("date", "date-time"))
    assert still_matching("2026-12-04", formats) == {"date"}
    assert still_matching("2026-12-04T10:00:00Z", formats) == {"date-time"}


def test_unknown_format_names_from_saved_state_are_dropped():
    assert still_matching("2026-12-04", frozenset(("date", "odd"))) == {"date"}
    assert still_matching("2026-12-04", frozenset(("odd",))) == NO_FORMATS


def test_segment_kinds():
    assert segment_kind("42") == "integer"
    assert segment_kind("users") is None
    assert segment_kind("acc_5vWThLbE5nyO18") == "token"


def test_typed_text_turns_numbers_and_booleans_into_values():
    assert typed_text("10") == 10
    assert typed_text("1.5") == 1.5
    assert typed_text("true") is True
    assert typed_text("0123456789012345678901") == "0123456789012345678901"


def test_typed_text_keeps_numbers_json_cannot_hold_as_text():
    assert typed_text("1e400") == "1e400"
    assert typed_text("-1e400") == "-1e400"
    assert typed_text("1e300") == 1e300


@pytest.mark.parametrize(
    ("segment", "parts"),
    [
        ("nightly-backup:cancel", ("nightly-backup", ":cancel")),
        ("jobs:batchGet", ("jobs", ":batchGet")),
        ("2025-01.csv", ("2025-01", ".csv")),
        ("42.json", ("42", ".json")),
        # after a plain word an extension is part of a file name
        ("robots.txt", ("robots.txt", "")),
        ("report.pdf", ("report.pdf", "")),
        # dots and colons that are no suffix
        ("ana.souza", ("ana.souza", "")),
        ("1.2.3", ("1.2.3", "")),
        ("2024-01-01T10:00:00Z", ("2024-01-01T10:00:00Z", "")),
        ("urn:isbn:0451", ("urn:isbn:0451", "")),
        ("sha256:e3b0c44298fc1c14", ("sha256:e3b0c44298fc1c14", "")),
        ("jo@example.com", ("jo@example.com", "")),
    ],
)
def test_split_suffix_takes_methods_and_extensions_after_ids(segment, parts):
    assert split_suffix(segment) == parts


@pytest.mark.parametrize(
    ("segment", "kind"),
    [
        ("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "token"),
        ("bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "token"),
        ("sha256:e3b0c44298fc1c149afbf4c8996fb924", "token"),
        ("kQzTrwPmLxVbNhYs", "random"),
        ("AKIAIOSFODNN7EXAMPLE", "random"),
        ("+49-151-1234-5678", "digits"),
        ("(415)555-0100", "digits"),
        ("52.5200,13.4050", "digits"),
        ("2001:db8::5", "ip"),
        ("00:1A:2B:3C:4D:5E", "mac"),
        ("00-1a-2b-3c-4d-5e", "mac"),
        # what the recorder wrote in place of a credential
        ("[REDACTED]", "redacted"),
        # words stay words, however they are cased or joined
        ("getMe", None),
        ("sendMessage", None),
        ("readOnlyAccess", None),
        ("TheQuickBrownFoxJumps", None),
        ("XMLHttpRequest", None),
        ("HTTPSConnectionPool", None),
        ("UPPERCASEWORDS", None),
        ("jobs", None),
    ],
)
def test_keys_addresses_and_written_numbers_are_values(segment, kind):
    assert segment_kind(segment) == kind
