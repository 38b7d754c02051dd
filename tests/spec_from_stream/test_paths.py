"""Tests for path templates: typed segments, literal siblings, late decisions."""

import json

import pytest

from spec_from_stream.builder import Limits, SpecBuilder
from spec_from_stream.formats import segment_kind


def _exchange(method, path, status=200, body=None, host="api.test"):
    response = {"statusCode": status, "headers": {}, "body": ""}
    if body is not None:
        response["body"] = json.dumps(body)
        response["headers"] = {"content-type": "application/json"}
    return {
        "request": {"method": method, "host": host, "pathname": path, "query": {}},
        "response": response,
    }


def _paths(builder: SpecBuilder) -> dict:
    (document,) = builder.render().values()
    return document["paths"]


def _build(*exchanges) -> SpecBuilder:
    builder = SpecBuilder()
    for exchange in exchanges:
        builder.add(exchange)
    return builder


@pytest.mark.parametrize(
    ("segment", "kind"),
    [
        ("42", "integer"),
        ("00005a17-0000-4000-8000-000000000001", "uuid"),
        ("051dcf528bc3d38a46453b16", "hex"),
        ("2026-01-05", "date"),
        ("acc_5vWThLbE5nyO18", "token"),
        ("green-263", "slug"),
        ("how-to-brew-coffee", "slug"),
        ("spoon-knife", None),
        ("someone@example.com", "email"),
        ("latest", None),
        ("faq_entries", None),
        ("pkcs12", None),
        ("createWithList", None),
        ("2025-01", "month"),
        ("1.2.3", "version"),
        ("2.0.0-rc.1", "version"),
        ("en-US", "locale"),
        ("es-419", "locale"),
        ("zh-Hant-TW", "locale"),
        ("en", None),
        ("to-do", None),
        ("0042", "digits"),
        # a uuid of digits only is still a uuid
        ("00000000-0000-4000-8000-000000000001", "uuid"),
        ("2024-001-0042", "digits"),
        ("2024-01-01T10:00:00Z", "datetime"),
        ("+4915112345678", "phone"),
        # short commit hashes; fewer than two digits read as a word
        ("3f2a9c1", "hex"),
        ("9c0ffee", "hex"),
        ("deadbee", None),
        ("abcdef1", None),
        ("v2alpha", None),
        # a word and a number
        ("ed25519", None),
        ("dec2024", None),
    ],
)
def test_segment_kinds(segment, kind):
    assert segment_kind(segment) == kind


def test_short_commit_hashes_join_numbers_at_one_position():
    # hashes that read as words alone join the hashes beside them
    shas = ["3f2a9c1", "a1b2c3d", "0f9e8d7", "7b3e1f0", "9c0ffee", "deadbee", "abc1234"]
    builder = _build(
        *(_exchange("get", f"/commits/{sha}") for sha in shas),
        _exchange("get", "/commits/4821950"),
    )
    (document,) = builder.render().values()
    assert list(document["paths"]) == ["/commits/{commitId}"]


def test_hex_looking_words_stay_literal_without_hashes_beside_them():
    paths = _paths(
        _build(
            *(_exchange("post", f"/ssh/keys/{kind}") for kind in ("ed25519", "rsa")),
            _exchange("get", "/ssh/keys/42"),
        )
    )
    assert set(paths) == {"/ssh/keys/ed25519", "/ssh/keys/rsa", "/ssh/keys/{keyId}"}


def test_typed_ids_become_one_parameter_named_after_the_resource():
    builder = _build(
        _exchange("get", "/orders/5001", body={"id": 5001}),
        _exchange("get", "/orders/5002", body={"id": 5002}),
        _exchange("get", "/orders/5001/lines", body=[]),
        _exchange("get", "/orders/5003/lines", body=[]),
    )
    paths = _paths(builder)
    assert set(paths) == {"/orders/{orderId}", "/orders/{orderId}/lines"}
    parameter = paths["/orders/{orderId}/lines"]["get"]["parameters"][0]
    assert parameter == {
        "name": "orderId",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }


def test_a_literal_with_its_own_shape_stays_beside_the_parameter():
    builder = _build(
        _exchange("get", "/posts/1", body={"id": 1, "title": "a"}),
        _exchange("get", "/posts/2", body={"id": 2, "title": "b"}),
        _exchange("get", "/posts/latest", body=[{"id": 2, "title": "b"}]),
    )
    assert set(_paths(builder)) == {"/posts/{postId}", "/posts/latest"}


def test_a_literal_that_only_failed_folds_into_the_template():
    builder = _build(
        _exchange("get", "/users/non-existent", 404, {"error": "not found"}),
        _exchange("get", "/users/00005a17-0000-4000-8000-000000000001", body={}),
    )
    assert set(_paths(builder)) == {"/users/{userId}"}


def test_plain_word_beside_numeric_ids_stays_literal_even_with_same_shape():
    builder = _build(
        _exchange("get", "/users/1", body={"id": 1}),
        _exchange("get", "/users/2", body={"id": 2}),
        _exchange("get", "/users/me", body={"id": 3}),
    )
    assert set(_paths(builder)) == {"/users/{userId}", "/users/me"}


def test_words_that_behave_like_slug_values_join_the_parameter():
    user = {"username": "x", "email": "e"}
    builder = _build(
        _exchange("get", "/user/golden-hazel-130", body=user),
        _exchange("delete", "/user/golden-hazel-130"),
        _exchange("get", "/user/willow", body=user),
        _exchange("delete", "/user/pine"),
        _exchange("get", "/user/login", body="token"),
        _exchange("get", "/user/logout"),
    )
    assert set(_paths(builder)) == {"/user/{userId}", "/user/login", "/user/logout"}


def test_many_alike_words_become_a_parameter_few_stay_literal():
    profile = {"name": "x", "bio": "y"}
    names = ["amber", "basil", "cobalt", "delta", "ember", "fjord"]
    builder = _build(*[_exchange("get", f"/profiles/{n}", body=profile) for n in names])
    assert set(_paths(builder)) == {"/profiles/{profileId}"}
    few = _build(*[_exchange("get", f"/profiles/{n}", body=profile) for n in names[:3]])
    assert len(_paths(few)) == 3


def test_sub_resources_of_one_id_stay_literal():
    builder = _build(
        _exchange("get", "/faq/1/feedback", body={"ok": True}),
        _exchange("get", "/faq/2/related", body=[{"id": 1}]),
        _exchange("get", "/faq/3/recommended", body=[{"id": 1}]),
    )
    assert set(_paths(builder)) == {
        "/faq/{faqId}/feedback",
        "/faq/{faqId}/related",
        "/faq/{faqId}/recommended",
    }


def test_first_segment_words_are_never_merged():
    body = {"items": [], "total": 0}
    names = ["apples", "pears", "plums", "grapes", "figs", "limes"]
    builder = _build(*[_exchange("get", f"/{name}", body=body) for name in names])
    assert len(_paths(builder)) == 6


def test_prefix_segments_are_never_parameters():
    builder = _build(
        _exchange("get", "/api/v1/orders/1", body={}),
        _exchange("get", "/api/v2/orders/2", body={}),
    )
    assert set(_paths(builder)) == {
        "/api/v1/orders/{orderId}",
        "/api/v2/orders/{orderId}",
    }


def test_decoded_pathnames_and_trailing_slashes_give_one_path():
    builder = _build(
        _exchange("get", "/files/a%7Bb/", body={}),
        _exchange("get", "/files/a{b", body={}),
    )
    # one path, written percent-encoded as a URL path is
    assert set(_paths(builder)) == {"/files/a%7Bb"}


def test_one_parameter_keeps_one_name_in_all_sub_paths():
    builder = _build(
        _exchange("get", "/articles/green-263", body={}),
        _exchange("get", "/articles/green-263/comments", body=[]),
        _exchange("delete", "/articles/blue-12/comments/5"),
    )
    paths = _paths(builder)
    assert set(paths) == {
        "/articles/{articleId}",
        "/articles/{articleId}/comments",
        "/articles/{articleId}/comments/{commentId}",
    }


def test_late_traffic_folds_earlier_concrete_paths_with_merged_schemas():
    builder = _build(
        _exchange("get", "/teams/amber", body={"name": "a", "size": 1}),
        _exchange("get", "/teams/basil", body={"name": "b"}),
    )
    assert len(_paths(builder)) == 2
    for name in ["cobalt", "delta", "ember", "fjord"]:
        builder.add(_exchange("get", f"/teams/{name}", body={"name": "c", "size": 2}))
    paths = _paths(builder)
    assert set(paths) == {"/teams/{teamId}"}
    schema = paths["/teams/{teamId}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert schema["required"] == ["name"]
    assert set(schema["properties"]) == {"name", "size"}


def test_distinct_value_cap_folds_values_into_the_parameter_early():
    builder = SpecBuilder(Limits(max_distinct_values=8))
    for number in range(50):
        name = f"word{chr(97 + number % 26)}{chr(97 + number // 26)}"
        builder.add(_exchange("get", f"/tags/{name}", body={"name": "x"}))
    root = next(iter(builder._hosts.values()))
    assert len(root.children["tags"].children) <= 8
    assert set(_paths(builder)) == {"/tags/{tagId}"}


def test_distinct_value_cap_overflows_when_nothing_folds(caplog):
    builder = SpecBuilder(Limits(max_distinct_values=8))
    for number in range(20):
        name = f"word{chr(97 + number)}"
        builder.add(_exchange("get", f"/{name}", body={name: 1}))
    root = next(iter(builder._hosts.values()))
    assert len(root.children) == 8
    assert builder.warnings["distinct_values"] == 12
    assert "cap reached" in caplog.text


def _scanner_words(count):
    for number in range(count):
        yield "".join(chr(97 + (number * 7 + shift * 3) % 26) for shift in range(5)) + (
            chr(97 + number // 26)
        )


def _real_users(builder, count=3):
    for number in range(count):
        uid = f"00005a17-0000-4000-8000-{number:012d}"
        user = {"id": uid, "name": "n"}
        builder.add(_exchange("post", "/users", 201, body=user))
        builder.add(_exchange("get", f"/users/{uid}", body=user))
        builder.add(_exchange("patch", f"/users/{uid}", body=user))
    builder.add(_exchange("get", "/users", body=[]))


def test_scanner_probes_do_not_fold_the_real_endpoints_at_a_full_position():
    builder = SpecBuilder(Limits(max_distinct_values=8))
    for word in _scanner_words(300):
        builder.add(_exchange("get", f"/{word}", 404, body={"error": "not found"}))
    _real_users(builder)
    for word in _scanner_words(300):
        builder.add(_exchange("get", f"/x{word}", 404))
    _real_users(builder)
    paths = _paths(builder)
    assert {path: sorted(item) for path, item in paths.items()} == {
        "/users": ["get", "post"],
        "/users/{userId}": ["get", "patch"],
    }
    # the probes were dropped and counted, memory stays bounded
    root = next(iter(builder._hosts.values()))
    assert len(root.children) <= 8
    assert builder.warnings["error_paths"] >= 500
    assert builder.operation_count() == 4


def test_probes_at_a_position_full_of_real_words_make_no_parameter():
    builder = SpecBuilder(Limits(max_distinct_values=8))
    for number in range(8):
        name = f"word{chr(97 + number)}"
        builder.add(_exchange("get", f"/{name}", body={name: 1}))
    for word in _scanner_words(30):
        builder.add(_exchange("get", f"/{word}", 404))
    paths = _paths(builder)
    assert len(paths) == 8
    assert all("{" not in path for path in paths)
    assert builder.warnings["error_paths"] == 30


def test_probes_that_failed_join_the_parameter_at_a_full_position():
    builder = SpecBuilder(Limits(max_distinct_values=8))
    for number in range(3):
        builder.add(_exchange("get", f"/tags/{number}", body={"name": "x"}))
    for word in ["alpha", "bravo", "charlie", "delta"]:
        builder.add(_exchange("get", f"/tags/{word}/feed", body=[]))
    for word in _scanner_words(40):
        builder.add(_exchange("get", f"/tags/{word}", 404))
    tags = next(iter(builder._hosts.values())).children["tags"]
    assert len(tags.children) <= 8
    paths = _paths(builder)
    assert set(paths["/tags/{tagId}"]["get"]["responses"]) == {"200", "404"}
    assert "/tags/alpha/feed" in paths


def test_a_segment_holding_spaces_is_a_value_even_alone():
    builder = _build(
        _exchange("get", "/search/Joe%20Private", body={"hits": []}),
        _exchange("get", "/search/recent", body={"hits": []}),
        _exchange("get", "/teams/Mary%20Secret/members", body=[]),
    )
    paths = _paths(builder)
    assert set(paths) == {
        "/search/recent",
        "/search/{searchId}",
        "/teams/{teamId}/members",
    }
    assert "Private" not in json.dumps(paths)


def test_owner_and_repository_words_both_become_parameters():
    repository = {"name": "r", "stars": 1}
    owners = ["amber", "basil", "cobalt", "delta", "ember"]
    repositories = ["alpha", "bravo", "charlie", "echo", "golf"]
    traffic = []
    for owner, name in zip(owners, repositories, strict=True):
        traffic.append(_exchange("get", f"/repos/{owner}/{name}", body=repository))
        traffic.append(_exchange("get", f"/repos/{owner}/{name}/issues", body=[]))
    paths = _paths(_build(*traffic))
    assert set(paths) == {
        "/repos/{repoId}/{repoId2}",
        "/repos/{repoId}/{repoId2}/issues",
    }


def test_sibling_lists_in_one_envelope_stay_literal():
    rows = {
        "users": {"id": 1, "email": "e", "created": "c"},
        "groups": {"id": 1, "members": [1], "owner": "o"},
        "roles": {"id": 1, "grants": ["g"], "scope": "s"},
        "logs": {"id": 1, "level": "info", "text": "t"},
        "keys": {"id": 1, "fingerprint": "f", "expires": "x"},
    }
    traffic = [
        _exchange("get", f"/admin/{name}", body={"data": [row], "meta": {"total": 1}})
        for name, row in rows.items()
    ]
    assert len(_paths(_build(*traffic))) == 5


def test_repository_names_repeating_under_several_owners_become_parameters():
    repository = {"name": "r", "stars": 1}
    owners = ["yyx990803", "amber", "basil", "cobalt", "delta"]
    names = ["alpha", "bravo", "charlie", "echo", "golf", "hotel"]
    traffic = []
    for index, owner in enumerate(owners):
        # every owner shows some of the names, several names under two owners
        for name in names[index : index + 3]:
            traffic.append(_exchange("get", f"/repos/{owner}/{name}", body=repository))
            traffic.append(_exchange("get", f"/repos/{owner}/{name}/issues", body=[]))
    assert set(_paths(_build(*traffic))) == {
        "/repos/{repoId}/{repoId2}",
        "/repos/{repoId}/{repoId2}/issues",
    }


def test_values_whose_answers_differ_only_below_their_own_fields_join():
    # each store answers with opening hours keyed by other weekdays
    traffic = []
    days = ["mon", "tue", "wed", "thu", "fri", "sat"]
    for index, store in enumerate(["lisbon", "madrid", "oslo", "paris", "rome"]):
        hours = {days[index]: "9-17", days[index + 1]: "10-14"}
        body = {"slug": store, "name": "n", "country": "c", "hours": hours}
        traffic.append(_exchange("get", f"/stores/{store}", body=body))
    assert set(_paths(_build(*traffic))) == {"/stores/{storeId}"}


def test_words_with_different_optional_fields_join_through_a_third():
    bodies = {
        "amber": {"id": "a", "name": "n", "joined": "j", "bio": "b"},
        "basil": {"id": "b", "name": "n", "joined": "j", "bio": "b", "site": "s"},
        "cobalt": {"id": "c", "name": "n", "joined": "j", "site": "s", "x": 1},
        "delta": {"id": "d", "name": "n", "joined": "j", "site": "s", "x": 2},
        "ember": {"id": "e", "name": "n", "joined": "j", "bio": "b"},
    }
    traffic = [
        _exchange("get", f"/authors/{name}", body=body) for name, body in bodies.items()
    ]
    assert set(_paths(_build(*traffic))) == {"/authors/{authorId}"}


def test_a_word_alike_only_to_a_word_that_joined_joins_too():
    user = {"login": "l", "id": 1, "type": "t"}
    traffic = [_exchange("get", "/users/yyx990803/repos", body=[])]
    # amber shares the sub-resource with the token-like value, basil only
    # shares its answer with amber
    traffic.append(_exchange("get", "/users/amber/repos", body=[]))
    traffic.append(_exchange("get", "/users/amber", body=user))
    traffic.append(_exchange("get", "/users/basil", body=user))
    assert set(_paths(_build(*traffic))) == {"/users/{userId}", "/users/{userId}/repos"}


def test_a_value_seen_without_sub_resources_does_not_keep_words_out():
    user = {"login": "l", "id": 1, "type": "t"}
    traffic = [_exchange("get", "/users/yyx990803", body=user)]
    for name in ["amber", "basil"]:
        traffic.append(_exchange("get", f"/users/{name}", body=user))
        traffic.append(_exchange("get", f"/users/{name}/repos", body=[]))
    assert set(_paths(_build(*traffic))) == {"/users/{userId}", "/users/{userId}/repos"}


def test_a_method_after_a_colon_is_an_operation_on_the_templated_segment():
    names = ["nightly-backup", "etl-orders", "warm-cache", "rotate-keys", "faq-sync"]
    exchanges = []
    for name in names:
        job = {"jobId": name, "state": "RUNNING", "schedule": "daily"}
        exchanges.append(_exchange("get", f"/v1/jobs/{name}", body=job))
        exchanges.append(_exchange("post", f"/v1/jobs/{name}:cancel", body=job))
    exchanges.append(_exchange("post", "/v1/jobs:batchGet", body={"jobs": []}))
    paths = _paths(_build(*exchanges))
    assert set(paths) == {
        "/v1/jobs/{jobId}",
        "/v1/jobs/{jobId}:cancel",
        "/v1/jobs:batchGet",
    }
    assert set(paths["/v1/jobs/{jobId}:cancel"]) == {"post"}


def test_extensions_after_ids_are_one_operation_each():
    builder = _build(
        _exchange("get", "/reports/2025-01.json", body={"orders": 3}),
        _exchange("get", "/reports/2025-02.json", body={"orders": 4}),
        _exchange("get", "/reports/2025-01.csv"),
        _exchange("get", "/invoices/17.pdf"),
        _exchange("get", "/invoices/18.pdf"),
        _exchange("get", "/robots.txt"),
        _exchange("get", "/files/notes.txt"),
    )
    paths = _paths(builder)
    assert set(paths) == {
        "/reports/{reportId}.json",
        "/reports/{reportId}.csv",
        "/invoices/{invoiceId}.pdf",
        "/robots.txt",
        "/files/notes.txt",
    }
    (param,) = paths["/invoices/{invoiceId}.pdf"]["get"]["parameters"]
    assert param["schema"] == {"type": "integer"}


def test_suffixed_paths_survive_state_and_merging():
    first, second = SpecBuilder(), SpecBuilder()
    first.add(_exchange("post", "/jobs/12:cancel", body={"ok": True}))
    second.add(_exchange("post", "/jobs/13:run", body={"ok": True}))
    first.merge(SpecBuilder.from_state(json.loads(json.dumps(second.to_state()))))
    assert set(_paths(first)) == {"/jobs/{jobId}:cancel", "/jobs/{jobId}:run"}


def test_few_locales_and_release_numbers_are_values_by_their_look():
    release = {"version": "x", "releasedOn": "2025-01-02", "pages": []}
    paths = _paths(
        _build(
            _exchange("get", "/locales/en-US", body={"name": "English"}),
            _exchange("get", "/locales/pt-BR", body={"name": "Portuguese"}),
            _exchange("get", "/releases/1.2.3", body=release),
            _exchange("get", "/releases/2.0.0", body=release),
            # an alias that redirects is a literal beside release numbers
            _exchange("get", "/releases/latest", 302),
        )
    )
    assert set(paths) == {
        "/locales/{localeId}",
        "/releases/{releaseId}",
        "/releases/latest",
    }


def test_words_sharing_a_sub_resource_beside_names_join_the_parameter():
    profile = {"login": "x", "name": "X", "followers": 3}
    exchanges = [_exchange("get", "/users/yyx990803", body=profile)]
    for login in ("dhh", "gaearon", "torvalds", "kentcdodds"):
        exchanges.append(_exchange("get", f"/users/{login}/repos", body=[]))
    assert set(_paths(_build(*exchanges))) == {
        "/users/{userId}",
        "/users/{userId}/repos",
    }


def test_two_words_sharing_a_sub_resource_stay_literal():
    profile = {"login": "x", "name": "X", "followers": 3}
    exchanges = [_exchange("get", "/users/yyx990803", body=profile)]
    for word in ("archived", "starred"):
        exchanges.append(_exchange("get", f"/users/{word}/count", body={"n": 1}))
    assert set(_paths(_build(*exchanges))) == {
        "/users/{userId}",
        "/users/archived/count",
        "/users/starred/count",
    }


def test_suffixes_of_one_segment_are_capped_like_its_children():
    builder = SpecBuilder(Limits(max_distinct_values=3))
    for verb in ("cancel", "run", "pause", "resume", "retry"):
        builder.add(_exchange("post", f"/jobs/7:{verb}", body={"ok": True}))
    assert set(_paths(builder)) == {
        "/jobs/{jobId}",
        "/jobs/{jobId}:cancel",
        "/jobs/{jobId}:run",
        "/jobs/{jobId}:pause",
    }
    assert builder.warnings["distinct_values"] == 2


def test_zero_padded_numbers_timestamps_and_phone_numbers_are_string_values():
    paths = _paths(
        _build(
            _exchange("get", "/invoices/0042", body={"total": 1}),
            _exchange("get", "/metrics/2024-01-01T10:00:00Z", body={"n": 1}),
            # a phone number is personal data: never a literal path
            _exchange("get", "/lookups/+4915112345678", body={"valid": True}),
        )
    )
    assert set(paths) == {
        "/invoices/{invoiceId}",
        "/metrics/{metricId}",
        "/lookups/{lookupId}",
    }
    schemas = {
        path: item["get"]["parameters"][0]["schema"] for path, item in paths.items()
    }
    assert schemas["/invoices/{invoiceId}"] == {"type": "string"}
    assert schemas["/metrics/{metricId}"] == {"type": "string", "format": "date-time"}
    assert "+4915112345678" not in json.dumps(paths)


def test_words_sharing_a_sub_resource_but_answering_otherwise_stay_literal():
    profile = {"login": "x", "name": "X", "followers": 3}
    exchanges = [_exchange("get", "/users/yyx990803", body=profile)]
    for word in ("archived", "starred", "blocked"):
        # a list where the values answer with one user: not a user name
        exchanges.append(_exchange("get", f"/users/{word}", body=[profile]))
        exchanges.append(_exchange("get", f"/users/{word}/count", body={"n": 1}))
    assert set(_paths(_build(*exchanges))) == {
        "/users/{userId}",
        "/users/archived",
        "/users/archived/count",
        "/users/blocked",
        "/users/blocked/count",
        "/users/starred",
        "/users/starred/count",
    }
