"""The YAML writer: what PyYAML reads back is the data written, for any JSON data."""

import random
from collections import OrderedDict

import pytest
import yaml

from spec_from_stream.yaml_text import MAX_SIMPLE_KEY, to_yaml_text

# strings a YAML reader would take for something else when left plain
TRICKY = [
    "yes", "No", "off", "null", "~", "true", "1e5", "0o17", "0x1F", "1_000",
    "2024-01-01", ".inf", "-.5", "+1", "1:20", "=", "<<", "", " ", "-", "?",
    "--- ", "---", "...", "1.0", "12", "0.5e-3", "a: b", "a #b", "#a", "key:",
    "&anchor", "*alias", "!tag", "|", ">", "'q'", '"q"', "%d", "@x", "`x`",
    "[a]", "{a}", "a\nb", "tab\there", "nel\x85", "ls\u2028", "bom\ufeff",
    "c1\x9f", "del\x7f", "nul\x00", "emoji \U0001f600", "é", " lead", "trail ",
    "it's", "/users/{id}", "application/json", "$ref", "API at localhost:5000",
    ".5e5", "1_0e5", "._5", "0o_7", "09_89", "._", "0o_", "._e-2", "0x1_f",
]  # fmt: skip
# strings some YAML 1.2 reader takes for a number (or fails on) though PyYAML
# reads them as strings
NUMBER_LIKE = [".5e5", ".2E6", "1_0e5", "._5", "0o_7", "0o1_0", "09_89", "097_",
               "._", "0o_", "._e-2", "1e5", "0o17", "0x1F"]  # fmt: skip


def _reads_back(data):
    text = to_yaml_text(data)
    assert yaml.safe_load(text) == data, text
    return text


@pytest.mark.parametrize("value", TRICKY)
def test_every_tricky_string_reads_back_as_key_value_and_item(value):
    _reads_back({value: value, "list": [value, {value: [value]}]})
    _reads_back(value)


def test_plain_where_safe_quoted_where_not():
    text = to_yaml_text(
        {"openapi": "3.1.0", "200": "yes", "/users/{id}": {"a": "it's"}}
    )
    assert text.splitlines() == [
        "openapi: 3.1.0",
        "'200': 'yes'",
        "/users/{id}:",
        "  a: it's",
    ]


@pytest.mark.parametrize("value", NUMBER_LIKE)
def test_what_a_yaml_12_reader_could_take_for_a_number_is_quoted(value):
    assert to_yaml_text({"k": value}) == f"k: '{value}'\n"


def test_versions_stay_plain():
    assert to_yaml_text(["3.1.0", "1.0.0.1"]) == "- 3.1.0\n- 1.0.0.1\n"


def test_subclasses_and_tuples_are_written_in_full():
    class Name(str):
        pass

    data = OrderedDict(a=OrderedDict(b=(1, (2, 3))), c=Name("yes"))
    assert yaml.safe_load(to_yaml_text(data)) == {"a": {"b": [1, [2, 3]]}, "c": "yes"}


def test_numbers_and_constants_keep_their_types():
    data = {
        "i": [0, -7, 10**30],
        "f": [0.1, -0.0, 1e16, 1.5e-7, 3.0, 1e300],
        "b": [True, False],
        "n": None,
        "empty": [{}, []],
    }
    _reads_back(data)


def test_not_finite_floats_are_null_as_in_json():
    assert yaml.safe_load(to_yaml_text({"x": float("nan")})) == {"x": None}


def test_long_keys_use_the_explicit_form():
    data = {
        "k" * (MAX_SIMPLE_KEY + 1): {"a": [1, {"b": 2}]},
        "l" * (MAX_SIMPLE_KEY + 5): [1, [2, 3], {"c": None}],
        "m" * (MAX_SIMPLE_KEY + 9): "v",
    }
    assert "? " in _reads_back(data)


def test_random_json_data_reads_back():
    rng = random.Random(7)
    alphabet = list(": #aZ09_-./{}[],&*!|>'\"%@`?~=+$;()\\\n\t") + [
        "\x85", "\u2028", "\x00", "é", "\U0001f600", "\ufeff", "\x9f",
    ]  # fmt: skip

    def text():
        if rng.random() < 0.3:
            return rng.choice(TRICKY)
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))

    def value(depth=0):
        roll = rng.random()
        if depth < 4 and roll < 0.25:
            return {text(): value(depth + 1) for _ in range(rng.randint(0, 4))}
        if depth < 4 and roll < 0.45:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return rng.choice(
            [text(), rng.randint(-(10**20), 10**20), rng.random() * 1e9, True, None]
        )

    for _ in range(3000):
        _reads_back(value())


def test_anything_else_is_refused():
    with pytest.raises(TypeError, match="set"):
        to_yaml_text({"a": {1, 2}})
