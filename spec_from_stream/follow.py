"""Following a JSON Lines file as it grows, like ``tail -F``.

The recorder's file sink appends one exchange per line; ``follow_file`` keeps
the document up to date from such a file the way the live reader does from
Kafka: it writes at most once a second while lines arrive, and once more when
it is stopped. It keeps no state: started again, it reads the file from its
first line.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import IO

from spec_from_stream.exchange import BadMessage, strip_bom
from spec_from_stream.reader import (
    CLAIM_CHECK,
    BuildOptions,
    Reader,
    WriteTrouble,
    collect_less_often,
)
from spec_from_stream.sources import (
    GZIP_MAGIC,
    ZIP_MAGIC,
    SourceError,
    wide_encoding,
)
from spec_from_stream.state import StateStore
from spec_from_stream.writer import Listener, check_out_dir

logger = logging.getLogger(__name__)

# lines read between two looks at the stop request and the write schedule
FOLLOW_BATCH = 4096
# seconds to wait for the file to grow once its end is reached
FOLLOW_WAIT = 0.2
# a line longer than this is skipped as too_large without being kept whole, so
# a file that never writes a line break cannot fill the memory
MAX_LINE_BYTES = 8 * 1024 * 1024
# the first bytes of the file, kept to tell a rewritten file from a touched one
HEAD_BYTES = 256
# bytes read at most per batch: bounds its memory, and how long a huge line
# keeps the stop request waiting
READ_BYTES = 16 * 1024 * 1024


class FollowedFile:
    """The lines of a JSON Lines file, then the lines appended to it.

    Only whole lines are handed over: a line still being written waits for
    its line break. A file cut shorter than what was read (truncated in
    place) is read again from its start, and a path that names a new file
    (rotated: renamed away and made again) is followed to the new file once
    the old one is read to its end. A missing file is waited for.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.line = 0
        self._stream: IO[bytes] | None = None
        self._inode: tuple[int, int] | None = None
        self._partial: list[bytes] = []
        self._partial_bytes = 0
        self._skipping = False
        self._said_missing = False
        # whether the last read reached the end of the file, and the file's
        # change time then: a change since, with other first bytes, means
        # the file was rewritten
        self.at_end = False
        self._end_mtime: int | None = None
        self._head = b""

    def read(self, limit: int = FOLLOW_BATCH) -> list[tuple[object, str]]:
        """Return up to limit (message, position) pairs read since the last call.

        A message is the bytes of a line, or a BadMessage for a line too long
        to keep. An empty list with ``at_end`` set means nothing new for now;
        at most READ_BYTES are read per call.

        :raise SourceError: the file is not plain JSON Lines.
        """
        if self._stream is None and not self.start():
            return []
        if self.at_end:
            # before reading on from the old end, see whether the file was
            # replaced, cut or rewritten meanwhile
            self._check_replaced()
            if self._stream is None:
                return []
        messages: list[tuple[object, str]] = []
        budget = READ_BYTES
        while len(messages) < limit and budget > 0:
            # not kept in a variable: a rotation opens another file
            stream = self._stream
            chunk = stream.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                self.at_end = True
                self._end_mtime = os.fstat(stream.fileno()).st_mtime_ns
                break
            self.at_end = False
            budget -= len(chunk)
            if not chunk.endswith(b"\n"):
                self._keep_partial(chunk)
                continue
            if self._skipping:
                self._skipping = False
                self.line += 1
                messages.append((_too_long(), f"line {self.line}"))
                continue
            if self._partial:
                chunk = b"".join(self._partial) + chunk
                self._partial, self._partial_bytes = [], 0
            self.line += 1
            if chunk.strip():
                # files joined with `cat` may carry a byte order mark inside
                messages.append((strip_bom(chunk), f"line {self.line}"))
        return messages

    def close(self) -> None:
        """Close the file being read."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _keep_partial(self, chunk: bytes) -> None:
        """Keep the start of a line, or drop it once the line is too long."""
        if self._skipping:
            return
        self._partial.append(chunk)
        self._partial_bytes += len(chunk)
        if self._partial_bytes > MAX_LINE_BYTES:
            self._partial, self._partial_bytes = [], 0
            self._skipping = True

    def start(self) -> bool:
        """Open the file if it exists; tell whether it is open.

        :raise SourceError: the file is not a regular file of plain JSON Lines.
        """
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):
                # a pipe would block the opening, a folder has no lines
                raise SourceError(
                    f"{self.path} is not a regular file: --follow reads a file "
                    "that grows"
                )
            stream = self.path.open("rb")
        except FileNotFoundError:
            if not self._said_missing:
                self._said_missing = True
                logger.info("waiting for %s to be created", self.path)
            return False
        except OSError as error:
            raise SourceError(
                f"cannot read {self.path}: {error.strerror or error}"
            ) from None
        status = os.fstat(stream.fileno())
        self._stream = stream
        self._inode = (status.st_dev, status.st_ino)
        self.line = 0
        self._partial, self._partial_bytes, self._skipping = [], 0, False
        self.at_end, self._end_mtime = False, None
        self._check_format(stream)
        return True

    def _check_format(self, stream: IO[bytes]) -> None:
        """Refuse what is not plain JSON Lines: it cannot be read as it grows."""
        self._head = stream.read(HEAD_BYTES)
        stream.seek(0)
        start = self._head[:4]
        if self.path.suffix.lower() == ".har":
            problem = "a HAR file"
        elif start.startswith(GZIP_MAGIC) or start == ZIP_MAGIC:
            problem = "compressed"
        elif wide_encoding(start) is not None:
            problem = "UTF-16 or UTF-32"
        elif start.lstrip()[:1] == b"[":
            problem = "a JSON array"
        else:
            return
        self.close()
        raise SourceError(
            f"{self.path} is {problem}: --follow reads JSON Lines in UTF-8 "
            "(build from it without --follow)"
        )

    def _check_replaced(self) -> None:
        """Move to where reading goes on when the file at the path was replaced
        (the old one read to its end first), cut, or rewritten in place."""
        stream = self._stream
        assert stream is not None
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            # renamed away and not made again yet: the old file may still grow
            return
        if (status.st_dev, status.st_ino) != self._inode:
            if os.fstat(stream.fileno()).st_size > stream.tell():
                # written to after the rename: read that first
                return
            logger.info("%s was replaced: reading the new file", self.path)
            self.close()
            self.start()
            return
        rewritten = False
        if status.st_mtime_ns != self._end_mtime:
            # changed since the end was reached: grown, or rewritten if its
            # first bytes changed (a touch changes neither)
            head = os.pread(stream.fileno(), HEAD_BYTES, 0)
            rewritten = not head.startswith(self._head)
            if not rewritten:
                self._head = head
        if status.st_size < stream.tell() or rewritten:
            # truncated in place (copytruncate), maybe written again since
            logger.info("%s was truncated: reading it from its start", self.path)
            stream.seek(0)
            self.line = 0
            self._partial, self._partial_bytes, self._skipping = [], 0, False
            self._head = os.pread(stream.fileno(), HEAD_BYTES, 0)


def _too_long() -> BadMessage:
    """The skip reason of a line over MAX_LINE_BYTES."""
    return BadMessage("too_large", f"a line over {MAX_LINE_BYTES} bytes")


def follow_file(
    path: Path,
    out_dir: Path,
    options: BuildOptions,
    stop: threading.Event,
    listener: Listener | None = None,
) -> bool:
    """Build from a JSON Lines file and keep building as it grows, until stop.

    The document is written at most once a second while lines arrive (every
    5 s while a long file is caught up with), and once more at the end; a
    failed write is logged and tried again. Return whether the last write
    (if one was due) succeeded.

    :raise SourceError: the file is not plain JSON Lines, or cannot be read.
    :raise OutputError: out_dir cannot hold the document.
    :raise StateError: another reader is writing out_dir.
    """
    check_out_dir(out_dir)
    store = StateStore(out_dir)
    # the document is rewritten as it goes, as a live reader's is: one at a time
    store.claim()
    lines = FollowedFile(path)
    try:
        # a file that cannot be followed is refused before anything starts
        lines.start()
    except SourceError:
        store.release()
        raise
    collect_less_often()
    reader = Reader(out_dir, options, listener=listener)
    logger.info("following %s (until interrupted)", path)
    writes = _Writes(reader, store)
    claim_checked = 0.0
    try:
        while True:
            try:
                messages = lines.read(FOLLOW_BATCH)
            except SourceError:
                # the file became something else: what was read is written
                writes.write(time.monotonic())
                raise
            for message, where in messages:
                reader.add_message(message, where)
            now = time.monotonic()
            if now - claim_checked >= CLAIM_CHECK:
                # an idle follower notices a deleted folder too
                claim_checked = now
                store.check_claim()
            # a full batch: the file holds more than was read, so write less
            # often while catching up, as a live reader behind Kafka does
            reader.schedule.pace(len(messages) >= FOLLOW_BATCH)
            stopping = stop.is_set()
            if reader.schedule.due(now) or (stopping and reader.schedule.dirty):
                writes.write(now)
            if stopping:
                break
            reader.progress.maybe_log(
                now, reader.counts, reader.builder.operation_count
            )
            if not messages and lines.at_end:
                stop.wait(FOLLOW_WAIT)
    finally:
        lines.close()
        store.release()
    if not writes.ok:
        logger.error("the last document could not be written")
    logger.info("stopped: %s", reader.summary())
    return writes.ok


class _Writes:
    """Writes the document; a failure is warned about once (WriteTrouble) and
    the write tried again after the usual interval."""

    def __init__(self, reader: Reader, store: StateStore) -> None:
        self.reader = reader
        self.store = store
        self.ok = True
        self._trouble = WriteTrouble()

    def write(self, now: float) -> None:
        """Write the document if anything changed since the last write.

        :raise StateError: another reader took the folder over.
        """
        reader = self.reader
        if not reader.schedule.dirty:
            return
        self.store.check_claim()
        try:
            reader.write_documents()
            self.ok = True
            self._trouble.worked("writing the document works again")
        except OSError as error:
            self.ok = False
            self._trouble.failed("writing the document", error)
        reader.schedule.done(now)
        if not self.ok:
            # tried again after the interval, not on every read
            reader.schedule.mark()
