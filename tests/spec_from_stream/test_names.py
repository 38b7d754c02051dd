"""Tests for names: singular resource names and camelCase identifiers."""

from spec_from_stream.names import camel_case, looks_like_value, singular


def test_names_come_from_the_resource_in_camel_case():
    assert camel_case(singular("faq_entries")) == "faqEntry"
    assert singular("statuses") == "status"
    assert singular("categories") == "category"
    assert singular("boxes") == "box"
    assert camel_case(singular("special-events")) == "specialEvent"


def test_camel_case_keeps_only_letters_and_digits():
    assert camel_case("{weird} name!") == "weirdName"
    assert camel_case("123abc") == "p123abc"
    assert camel_case("???") == "param"


def test_names_that_are_values_are_told_from_field_names():
    for value in ("joe@corp.example", "+49 170 1234567", "42", "acc_5vWThLbE5nyO18"):
        assert looks_like_value(value), value
    for name in ("page", "per_page", "ipv4Address", "sha256sum", "utm_source"):
        assert not looks_like_value(name), name
