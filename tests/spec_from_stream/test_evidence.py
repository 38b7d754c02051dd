"""Tests for request evidence: linking response objects to whole request bodies."""

from spec_from_stream.evidence import (
    MIN_SAMPLES,
    RequestEvidence,
    drop_problem_members,
    is_problem_media,
)
from spec_from_stream.schema import SchemaCaps, SchemaSummary

CAPS = SchemaCaps(12, 200, False)


def _summary(*values) -> SchemaSummary:
    summary = SchemaSummary()
    for value in values:
        summary.add(value, CAPS)
    return summary


def _pets(count: int) -> list[dict]:
    """Return pet bodies that always carry name, and tag only every other time."""
    bodies = []
    for number in range(count):
        body = {"name": f"pet{number}", "kind": "cat"}
        if number % 2:
            body["tag"] = {"id": number, "label": "x"}
        if number % 3:
            body.setdefault("tag", {"id": number})
        bodies.append(body)
    return bodies


def _evidence(method: str, *bodies) -> RequestEvidence:
    evidence = RequestEvidence()
    evidence.add_body(method, _summary(*bodies))
    return evidence


def test_fields_a_client_leaves_out_are_optional_in_the_linked_response():
    evidence = _evidence("post", *_pets(8))
    response = _summary({"name": "a", "kind": "cat", "tag": {"id": 1, "label": "x"}})
    assert evidence.optional_keys("", response) == {"tag"}


def test_nested_objects_link_by_their_own_fields_and_name():
    evidence = _evidence("put", *_pets(8))
    tag = _summary({"id": 1, "label": "x"})
    assert evidence.optional_keys("tag", tag) == {"label"}


def test_fields_always_sent_give_no_evidence():
    bodies = [{"name": f"n{i}", "size": i} for i in range(6)]
    evidence = _evidence("post", *bodies)
    assert evidence.optional_keys("", _summary({"name": "a", "size": 1})) == set()


def test_dissimilar_response_objects_are_not_linked():
    evidence = _evidence("post", *_pets(8))
    # the response adds many server fields: too few names in common
    response = _summary(
        {"name": "a", "kind": "b", "tag": {}, "id": 1, "created": "x", "owner": "y"}
    )
    assert evidence.optional_keys("", response) == set()


def test_patch_bodies_are_partial_by_design():
    evidence = _evidence("patch", *_pets(8))
    assert evidence.shapes == []


def test_bodies_without_an_always_sent_field_are_partial_updates():
    # an envelope around fields that are each left out sometimes
    bodies = [{"user": {"email": "e"}}, {"user": {"bio": "b"}}] * 4
    evidence = _evidence("put", *bodies)
    assert evidence.shapes == []


def test_envelopes_are_looked_through_to_judge_a_body_whole():
    bodies = [{"user": {"email": "e", "bio": "b"}}, {"user": {"email": "e"}}] * 4
    evidence = _evidence("post", *bodies)
    user = _summary({"email": "e", "bio": "b"})
    assert evidence.optional_keys("user", user) == {"bio"}


def test_few_request_bodies_are_not_judged():
    assert _evidence("post", *_pets(2)).shapes == []


def test_a_nested_shape_seen_once_gives_no_evidence():
    bodies = [{"name": f"n{i}"} for i in range(6)]
    bodies.append({"name": "x", "owner": {"id": 1}})
    evidence = _evidence("post", *bodies)
    assert [shape.name for shape in evidence.shapes] == [""]
    assert MIN_SAMPLES > 1


def test_problem_details_members_are_not_required():
    assert is_problem_media("application/problem+json")
    assert not is_problem_media("application/json")
    schema = {"type": "object", "required": ["code", "title", "type"]}
    drop_problem_members(schema)
    assert schema["required"] == ["code"]
    schema = {"type": "object", "required": ["title", "type"]}
    drop_problem_members(schema)
    assert "required" not in schema
