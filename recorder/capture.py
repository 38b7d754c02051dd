"""Copying bodies as they flow: a tee around `wsgi.input` and a response wrapper."""

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)


class _CappedCopy:
    """Counts the bytes that pass and keeps the first `limit` of them."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def _copy(self, data: bytes) -> None:
        self.total += len(data)
        room = self._limit - self.kept
        if room > 0 and data:
            piece = data[:room]
            self._chunks.append(piece)
            self.kept += len(piece)


class InputTee(_CappedCopy):
    """A `wsgi.input` stand-in that copies the first `limit` bytes the app reads.

    The app reads exactly what it would read from the original stream; the tee
    never reads on its own while the app runs.
    """

    def __init__(self, stream: Any, limit: int, chunked: bool = False) -> None:
        super().__init__(limit)
        self._stream = stream
        # without Content-Length, HTTP/1.1 has a request body only when chunked
        self.chunked = chunked
        self.eof = False

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        """Read like the original stream does, copying what comes back.

        The size may come by position or by keyword (`read(size=5)`), by
        whatever name the server's stream takes.
        """
        data = self._stream.read(*args, **kwargs)
        self._copy(data)
        size = _size_argument(args, kwargs)
        # read() without a size, or an empty answer to a non-zero size, is the end
        if size is None or size < 0 or (not data and size != 0):
            self.eof = True
        return data

    def readline(self, *args: Any, **kwargs: Any) -> bytes:
        """Read one line, copying it."""
        data = self._stream.readline(*args, **kwargs)
        self._copy(data)
        if not data:
            self.eof = True
        return data

    def readlines(self, *args: Any, **kwargs: Any) -> list[bytes]:
        """Read lines, copying them."""
        lines = self._stream.readlines(*args, **kwargs)
        for line in lines:
            self._copy(line)
        hint = _size_argument(args, kwargs)
        if hint is None or hint <= 0:
            self.eof = True
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self._copy(line)
            yield line
        self.eof = True

    def __getattr__(self, name: str) -> Any:
        # readers such as werkzeug look for optional methods (hasattr), so the
        # tee has readinto and read1 exactly when the original stream has them
        if name == "readinto":
            return self._copying_readinto(self._stream.readinto)
        if name == "read1":
            return self._copying_read(self._stream.read1)
        # anything else (close, fileno, seekable...) is the original stream's
        return getattr(self._stream, name)

    def _copying_readinto(self, readinto: Callable[[Any], int | None]) -> Any:
        def copying_readinto(buffer: Any) -> int | None:
            count = readinto(buffer)
            if count:
                self._copy(bytes(memoryview(buffer)[:count]))
            elif count == 0 and len(buffer) > 0:
                self.eof = True
            return count

        return copying_readinto

    def _copying_read(self, read: Callable[..., bytes]) -> Any:
        def copying_read(*args: Any) -> bytes:
            data = read(*args)
            self._copy(data)
            if not data and (not args or args[0] != 0):
                self.eof = True
            return data

        return copying_read

    def finish(self, content_length: int | None) -> tuple[bytes, int, bool]:
        """Return (kept bytes, body length, whether the app read the whole body).

        Limitation: only what the app read is known. The tee never reads by
        itself, since after the app the server may have drained the stream or
        the client may still be sending. Without a Content-Length or chunked
        transfer there is no body at all.
        """
        if content_length is not None:
            seen_all = self.eof or self.total >= content_length
            return b"".join(self._chunks), max(content_length, self.total), seen_all
        seen_all = self.eof or not self.chunked
        return b"".join(self._chunks), self.total, seen_all


class RecordedResponse(_CappedCopy):
    """Passes a WSGI response through, copying its first `limit` bytes.

    `close()` is forwarded once to the app's original iterable and finishes the
    record; there is no `__len__`, so servers never take a streamed body for
    a sized one.
    """

    def __init__(
        self,
        iterable: Iterable[bytes],
        limit: int,
        on_close: Callable[["RecordedResponse"], None],
        written: list[bytes] | None = None,
    ) -> None:
        super().__init__(limit)
        self._iterable = iterable
        self._on_close = on_close
        # what the app passed to write(), filled while it runs and iterates
        self._written = written if written is not None else []
        self._closed = False
        self.exhausted = False
        self.error = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._iterable:
                if self._written:
                    self._take_written()
                self._copy(chunk)
                yield chunk
        except GeneratorExit:
            raise
        except Exception:
            self.error = True
            raise
        self.exhausted = True

    def _take_written(self) -> None:
        """Keep what write() sent so far, in the order it went out."""
        for data in self._written:
            self._copy(data)
        self._written.clear()

    def body(self) -> bytes:
        """The bytes kept so far."""
        return b"".join(self._chunks)

    def close(self) -> None:
        """Close the app's iterable (once) and finish the record."""
        if self._closed:
            return
        self._closed = True
        self._take_written()
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close(self)


def _size_argument(args: tuple, kwargs: dict) -> Any:
    """The size or hint a read call was given, by position or keyword (None)."""
    if args:
        return args[0]
    return next(iter(kwargs.values()), None)
