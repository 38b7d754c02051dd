"""Tests for names: singular resource names and camelCase identifiers."""

from spec_from_stream.names import camel_case, singular


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
