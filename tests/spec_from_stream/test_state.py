"""The saved reader state: round trips, refusals and atomic replacement."""

import fcntl
import os
import shutil
from collections import Counter

import pytest

from spec_from_stream.state import (
    Counts,
    ReaderState,
    StateError,
    StateStore,
)

SOURCE = {"kind": "kafka", "topic": "http_recordings"}


def make_state(read: int = 5) -> ReaderState:
    return ReaderState(
        source=SOURCE,
        offsets={0: 3, 2: 2},
        counts=Counts(read=read, skipped=Counter({"not_json": 1})),
        builder={"version": 7, "anything": [1, 2, {"x": None}]},
    )


def test_state_round_trips_offsets_counts_and_builder(tmp_path):
    store = StateStore(tmp_path)
    store.save(make_state())

    loaded = store.load(SOURCE)

    assert store.path == tmp_path / ".state" / "state.json"
    assert loaded == make_state()
    assert loaded.offsets == {0: 3, 2: 2}
    assert loaded.counts.skipped_total == 1


def test_no_saved_state_loads_as_none(tmp_path):
    assert StateStore(tmp_path).load(SOURCE) is None


def test_state_of_another_topic_is_refused(tmp_path):
    store = StateStore(tmp_path)
    store.save(make_state())

    with pytest.raises(StateError, match="topic http_recordings, not topic other"):
        store.load({"kind": "kafka", "topic": "other"})


def test_an_empty_state_of_another_topic_gives_way(tmp_path, caplog):
    # a mistyped --topic, then Ctrl-C before anything was read
    store = StateStore(tmp_path)
    empty = ReaderState(source=SOURCE, offsets={}, counts=Counts(), builder={})
    store.save(empty)

    with caplog.at_level("INFO"):
        assert store.load({"kind": "kafka", "topic": "other"}) is None
    assert "held nothing read from topic http_recordings" in caplog.text


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"format": 99}', b'{"format": 1, "source": {}}'],
)
def test_unreadable_state_is_a_clear_error(tmp_path, content):
    store = StateStore(tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)

    with pytest.raises(StateError, match="state.json"):
        store.load(SOURCE)


def test_failed_save_keeps_the_previous_state_whole(tmp_path, monkeypatch):
    store = StateStore(tmp_path)
    store.save(make_state(read=5))

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save(make_state(read=6))
    monkeypatch.undo()

    assert store.load(SOURCE).counts.read == 5
    assert os.listdir(store.path.parent) == ["state.json"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw["counts"]["skipped"].update(not_json="x"),
        lambda raw: raw["counts"].update(read=-1),
        lambda raw: raw["counts"].update(read=1.5),
        lambda raw: raw["offsets"].update({"0": -5}),
        lambda raw: raw["offsets"].update({"0": None}),
        lambda raw: raw["offsets"].update({"-1": 3}),
    ],
)
def test_damaged_counts_and_offsets_are_refused(tmp_path, damage):
    import orjson

    store = StateStore(tmp_path)
    store.save(make_state())
    raw = orjson.loads(store.path.read_bytes())
    damage(raw)
    store.path.write_bytes(orjson.dumps(raw))

    with pytest.raises(StateError, match="unreadable state"):
        store.load(SOURCE)


def test_topic_id_round_trips_and_must_be_text(tmp_path):
    import orjson

    store = StateStore(tmp_path)
    state = make_state()
    state.topic_id = "97241e90-35c1-46cb-805b-c26c048fb8f4"
    store.save(state)
    assert store.load(SOURCE).topic_id == state.topic_id

    raw = orjson.loads(store.path.read_bytes())
    raw["topic_id"] = 5
    store.path.write_bytes(orjson.dumps(raw))
    with pytest.raises(StateError, match="unreadable state"):
        store.load(SOURCE)


def test_a_state_saved_without_a_topic_id_loads(tmp_path):
    import orjson

    store = StateStore(tmp_path)
    store.save(make_state())
    raw = orjson.loads(store.path.read_bytes())
    del raw["topic_id"]
    store.path.write_bytes(orjson.dumps(raw))

    assert store.load(SOURCE).topic_id is None


def test_counts_describe_themselves_with_agreeing_nouns():
    counts = Counts(read=1, skipped=Counter({"not_json": 2, "bad_exchange": 1}))
    assert counts.describe(1) == (
        "1 message read, 3 skipped (bad_exchange 1, not_json 2), 1 operation"
    )
    assert Counts(read=2).describe(0) == "2 messages read, 0 skipped, 0 operations"


def test_the_state_is_readable_by_its_owner_only(tmp_path):
    store = StateStore(tmp_path)
    store.save(make_state())
    store.save(make_state(read=6))

    assert oct(store.path.stat().st_mode & 0o777) == oct(0o600)


def take_over(out) -> int:
    """Put a lock file held by someone else in place of the folder's (as a
    reader started after the folder was deleted would); return its descriptor."""
    lock = out / ".state" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fresh = lock.with_name("lock.new")
    descriptor = os.open(fresh, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.replace(fresh, lock)
    return descriptor


def test_a_removed_lock_is_taken_again_unless_another_reader_took_it(tmp_path):
    out = tmp_path / "spec"
    first = StateStore(out)
    first.claim()
    shutil.rmtree(out)
    # nobody took it: held again, so a newcomer is refused as before
    first.check_claim()
    with pytest.raises(StateError, match="another reader is using"):
        StateStore(out).claim()
    other = take_over(out)
    with pytest.raises(StateError, match="another reader took .* over"):
        first.check_claim()
    os.close(other)


def test_a_lock_that_cannot_be_made_again_is_kept(tmp_path, caplog):
    out = tmp_path / "spec"
    store = StateStore(out)
    store.claim()
    shutil.rmtree(out / ".state")
    # a file where the folder was: nothing to lock, said once, and the save
    # says so too
    (out / ".state").write_text("")
    store.check_claim()
    store.check_claim()
    assert caplog.text.count("cannot be made again") == 1
    with pytest.raises(OSError):
        store.save(make_state())
    store.release()
