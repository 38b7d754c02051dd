"""The input tee and the response wrapper, on their own."""

import io

from recorder.capture import InputTee, RecordedResponse


class BodyWithoutReadinto:
    """Like gunicorn's request body: read and readline, no readinto."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size=None):
        return self._data.read(size)

    def readline(self, size=None):
        return self._data.readline(size)


def test_tee_copies_up_to_the_cap_and_passes_everything() -> None:
    tee = InputTee(io.BytesIO(b"hello world"), limit=5)
    assert tee.read(3) + tee.read() == b"hello world"
    assert tee.finish(11) == (b"hello", 11, True)


def test_tee_offers_only_the_methods_the_stream_has() -> None:
    tee = InputTee(BodyWithoutReadinto(b"abc"), limit=10)
    assert not hasattr(tee, "readinto")
    assert hasattr(InputTee(io.BytesIO(b""), 10), "readinto")


def test_tee_readinto_copies() -> None:
    tee = InputTee(io.BufferedReader(io.BytesIO(b"abcdef")), limit=10)
    buffer = bytearray(4)
    assert tee.readinto(buffer) == 4
    assert tee.finish(6) == (b"abcd", 6, False)


def test_tee_lines_and_iteration() -> None:
    tee = InputTee(io.BytesIO(b"a\nb\nc\n"), limit=100)
    assert tee.readline() == b"a\n"
    assert list(tee) == [b"b\n", b"c\n"]
    assert tee.finish(None) == (b"a\nb\nc\n", 6, True)


def test_tee_takes_sizes_by_keyword_as_the_stream_does() -> None:
    # gunicorn's body takes read(size=...); an app may call it so
    tee = InputTee(BodyWithoutReadinto(b"line one\nline two\nrest"), limit=100)
    assert tee.read(size=2) == b"li"
    assert tee.readline(size=100) == b"ne one\n"
    assert tee.read(size=0) == b""
    assert not tee.eof
    assert tee.read(size=None) == b"line two\nrest"
    assert tee.finish(22) == (b"line one\nline two\nrest", 22, True)


def test_no_length_and_not_chunked_means_no_body() -> None:
    tee = InputTee(io.BytesIO(b""), limit=10)
    assert tee.finish(None) == (b"", 0, True)
    chunked = InputTee(io.BytesIO(b"xyz"), limit=10, chunked=True)
    assert chunked.finish(None) == (b"", 0, False)


def test_wrapper_closes_the_original_once_and_reports_once() -> None:
    closed, reported = [], []

    class Body:
        def __iter__(self):
            return iter([b"ab", b"cd"])

        def close(self):
            closed.append(True)

    wrapper = RecordedResponse(Body(), limit=3, on_close=reported.append)
    assert list(wrapper) == [b"ab", b"cd"]
    wrapper.close()
    wrapper.close()
    assert closed == [True] and reported == [wrapper]
    assert wrapper.body() == b"abc" and wrapper.total == 4 and wrapper.exhausted


def test_wrapper_stopped_early_is_not_exhausted() -> None:
    wrapper = RecordedResponse(iter([b"a", b"b"]), limit=10, on_close=lambda w: None)
    iterator = iter(wrapper)
    next(iterator)
    wrapper.close()
    assert not wrapper.exhausted and not wrapper.error
