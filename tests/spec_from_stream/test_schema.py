"""Tests for schema summaries: types, required, nullable, formats, maps."""

import orjson

from spec_from_stream.schema import SchemaCaps, SchemaSummary


def _summary(*values, caps=None) -> SchemaSummary:
    caps = caps or SchemaCaps(12, 200, False)
    summary = SchemaSummary()
    for value in values:
        summary.add(value, caps)
    return summary


def test_integers_and_fractions_make_a_number():
    assert _summary(1, 2.5).render() == {"type": "number"}
    assert _summary(1, 2).render() == {"type": "integer"}


def test_required_means_present_in_every_sample():
    schema = _summary({"id": 1, "tag": "a"}, {"id": 2}).render()
    assert schema["required"] == ["id"]
    assert set(schema["properties"]) == {"id", "tag"}


def test_nullable_is_a_type_list_in_31_and_a_flag_in_30():
    summary = _summary({"tag": None}, {"tag": "x"})
    assert summary.render("3.1")["properties"]["tag"] == {"type": ["string", "null"]}
    assert summary.render("3.0")["properties"]["tag"] == {
        "type": "string",
        "nullable": True,
    }
    assert summary.render("3.1")["required"] == ["tag"]


def test_formats_are_kept_only_while_every_value_matches():
    uuid = "00005a17-0000-4000-8000-000000000001"
    assert _summary(uuid, uuid).render()["format"] == "uuid"
    assert "format" not in _summary(uuid, "plain").render()
    assert _summary("a@example.com").render()["format"] == "email"
    assert _summary("2026-01-05T10:00:00+00:00").render()["format"] == "date-time"
    assert _summary("2026-01-05").render()["format"] == "date"
    assert _summary("https://example.com/x").render()["format"] == "uri"
    assert _summary("10.0.0.1").render()["format"] == "ipv4"


def test_formats_of_fields_and_items_are_kept_only_while_every_value_matches():
    uuid = "00005a17-0000-4000-8000-000000000001"
    when = "2026-01-05T10:00:00+00:00"
    kept = _summary(
        {"id": uuid, "at": when, "tags": [uuid, uuid]},
        {"id": uuid, "at": when, "tags": [uuid]},
    ).render()["properties"]
    assert kept["id"]["format"] == "uuid"
    assert kept["at"]["format"] == "date-time"
    assert kept["tags"]["items"]["format"] == "uuid"
    lost = _summary(
        {"id": uuid, "at": when, "tags": [uuid]},
        {"id": "plain", "at": "yesterday", "tags": [uuid, "plain"]},
        {"id": uuid, "at": when, "tags": [uuid]},
    ).render()["properties"]
    assert "format" not in lost["id"]
    assert "format" not in lost["at"]
    assert "format" not in lost["tags"]["items"]


def test_objects_keyed_by_ids_become_maps():
    schema = _summary({"101": {"n": 1}, "102": {"n": 2}}).render()
    assert "properties" not in schema
    assert schema["additionalProperties"]["properties"]["n"] == {"type": "integer"}


def test_arrays_of_objects_merge_their_items():
    schema = _summary([{"a": 1, "b": "x"}, {"a": 2}]).render()
    assert schema["items"]["required"] == ["a"]
    assert set(schema["items"]["properties"]) == {"a", "b"}


def test_one_of_only_for_really_different_types():
    assert _summary("a", 1).render() == {
        "oneOf": [{"type": "string"}, {"type": "integer"}]
    }
    three_oh = _summary("a", 1, None).render("3.0")
    assert all(branch["nullable"] for branch in three_oh["oneOf"])


def test_depth_and_property_caps_bound_the_summary():
    caps = SchemaCaps(2, 3, False)
    deep = {"a": {"b": {"c": {"d": 1}}}}
    summary = _summary(deep, {f"k{i}": i for i in range(10)}, caps=caps)
    assert caps.hits["schema_depth"] > 0
    assert caps.hits["properties"] > 0
    assert len(summary.props) <= 3


def test_overlong_property_names_do_not_grow_the_summary():
    caps = SchemaCaps(12, 200, False)
    bodies = [{"id": 1, f"{number:05d}{'k' * 5000}": 1} for number in range(50)]
    summary = _summary(*bodies, caps=caps)

    assert caps.hits["name_length"] == 50
    assert set(summary.props) == {"id"}
    assert len(orjson.dumps(summary.to_state())) < 1000
    # kept as what they are: more properties of an integer value
    assert summary.render()["additionalProperties"] == {"type": "integer"}


def test_weighted_add_counts_like_repeated_adds():
    caps = SchemaCaps(12, 200, False)
    once = SchemaSummary()
    once.add({"a": 1}, caps, weight=3)
    thrice = _summary({"a": 1}, {"a": 1}, {"a": 1})
    assert once.to_state() == thrice.to_state()


def test_state_round_trips_and_merge_adds_counts():
    first = _summary({"id": 1, "email": "a@example.com"})
    second = _summary({"id": 2})
    state = orjson.loads(orjson.dumps(first.to_state()))
    restored = SchemaSummary.from_state(state)
    assert restored.render() == first.render()
    restored.merge(second)
    assert restored.render()["required"] == ["id"]
    assert restored.n == 2


def test_examples_only_when_asked():
    caps = SchemaCaps(12, 200, True)
    summary = _summary({"name": "Ada", "age": 3, "ok": True}, caps=caps)
    props = summary.render(examples=True)["properties"]
    assert props["name"]["example"] == "Ada"
    assert props["ok"]["example"] is True
    assert "example" not in summary.render()["properties"]["name"]


def test_objects_whose_keys_change_every_sample_become_maps():
    names = [f"person{chr(97 + i)}{chr(97 + j)}" for i in range(6) for j in range(6)]
    samples = [{name: {"score": 1}} for name in names]
    schema = _summary(*samples).render()
    assert "properties" not in schema
    assert schema["additionalProperties"]["properties"]["score"] == {"type": "integer"}


def test_counts_over_a_few_names_picked_per_sample_become_a_map():
    names = ["Python", "Go", "Rust", "C", "Shell", "HTML", "Makefile"]
    samples = [
        {name: 100 * i + j for j, name in enumerate(names) if (i + j) % 3 == 0}
        for i in range(12)
    ]
    schema = _summary(*samples).render()
    assert "properties" not in schema
    assert schema["additionalProperties"] == {"type": "integer"}


def test_a_union_of_string_field_groups_stays_an_object():
    groups = [("keyId", "secret"), ("roleArn", "mode"), ("token",), ("user", "pass")]
    samples = [{name: "x" for name in groups[i % 4]} for i in range(12)]
    assert "properties" in _summary(*samples).render()


def test_counts_beside_a_field_always_written_stay_fields():
    names = ["views", "likes", "shares", "saves", "clicks", "replies"]
    samples = [
        {"total": i, **{name: i for k, name in enumerate(names) if (i + k) % 3 == 0}}
        for i in range(12)
    ]
    assert set(_summary(*samples).render()["properties"]) == {"total", *names}


def test_sparse_fields_of_different_types_stay_fields():
    samples = [{f"field{i}": i if i % 2 else "x"} for i in range(30)]
    assert "properties" in _summary(*samples).render()


def test_fields_only_ever_null_or_empty_are_not_required():
    samples = [{"id": n, "details": {} if n % 2 else None} for n in range(10)]
    schema = _summary(*samples).render()
    assert schema["required"] == ["id"]
    # a few samples are not enough to tell
    assert _summary(*samples[:3]).render()["required"] == ["details", "id"]
    # a field that held a value once is judged by presence again
    samples.append({"id": 11, "details": {"reason": "x"}})
    assert _summary(*samples).render()["required"] == ["details", "id"]
