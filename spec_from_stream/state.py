"""The reader's saved state: builder counters and source offsets in one file.

Both live in `OUT/.state/state.json`, written atomically, so after a crash the
builder and the offsets always agree: every message before a stored offset is
in the stored builder, and none after it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from spec_from_stream.atomic import write_atomic

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
STATE_DIR = ".state"
STATE_FILE = "state.json"
# readable by its owner only (the document, meant to be shared, is 0644)
STATE_FILE_MODE = 0o600
# held (flock) by the live reader that owns the folder, for as long as it runs
LOCK_FILE = "lock"


class StateError(RuntimeError):
    """The saved state cannot be used (unreadable, another format or source)."""


@dataclass
class Counts:
    """Messages read from the source and those skipped, per kind of problem."""

    read: int = 0
    skipped: Counter = field(default_factory=Counter)

    @property
    def skipped_total(self) -> int:
        """Return how many messages were skipped over all kinds."""
        return sum(self.skipped.values())

    def describe(self, operations: int) -> str:
        """Describe the counts and the operations in one line of log text."""
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.skipped.items()))
        return (
            f"{_count_of(self.read, 'message')} read, {self.skipped_total} skipped"
            f"{f' ({kinds})' if kinds else ''}, {_count_of(operations, 'operation')}"
        )

    def to_dict(self) -> dict:
        """Return the counts as JSON-ready data."""
        return {"read": self.read, "skipped": dict(sorted(self.skipped.items()))}

    @classmethod
    def from_dict(cls, data: dict) -> Counts:
        """Rebuild counts from to_dict() output."""
        skipped = {str(kind): _count(value) for kind, value in data["skipped"].items()}
        return cls(read=_count(data["read"]), skipped=Counter(skipped))


def _count_of(number: int, noun: str) -> str:
    """Return "1 message", "2 messages": a number with its noun agreeing."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@dataclass
class ReaderState:
    """What a restart needs: where to resume and what was built so far."""

    source: dict
    offsets: dict[int, int]
    counts: Counts
    builder: dict
    # the Kafka topic's id when the offsets were saved: a topic deleted and
    # created again under the same name has a new one (None: not known)
    topic_id: str | None = None

    def to_bytes(self) -> bytes:
        """Serialise the state as JSON."""
        return orjson.dumps(
            {
                "format": STATE_FORMAT,
                "source": self.source,
                # JSON keys are strings; partitions are turned back on load
                "offsets": {str(p): o for p, o in sorted(self.offsets.items())},
                "counts": self.counts.to_dict(),
                "builder": self.builder,
                "topic_id": self.topic_id,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ReaderState:
        """Parse a saved state or raise StateError."""
        try:
            raw = orjson.loads(data)
            if raw.get("format") != STATE_FORMAT:
                raise StateError(f"unknown state format {raw.get('format')!r}")
            return cls(
                source=raw["source"],
                offsets={_count(p): _count(o) for p, o in raw["offsets"].items()},
                counts=Counts.from_dict(raw["counts"]),
                builder=raw["builder"],
                topic_id=_topic_id(raw.get("topic_id")),
            )
        except StateError:
            raise
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as error:
            raise StateError(f"unreadable state ({type(error).__name__})") from None
        except ValueError as error:
            raise StateError(f"unreadable state ({error})") from None


def _topic_id(value: object) -> str | None:
    """A saved topic id: text, or None for a state saved without one."""
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{value!r} is not a topic id")
    return value


def _count(value: object) -> int:
    """A saved count, offset or partition: a whole number, never negative."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a count")
    number = int(value)
    if number < 0:
        raise ValueError(f"{number} is negative")
    return number


class StateStore:
    """Loads and saves the reader state under OUT/.state/."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / STATE_DIR / STATE_FILE
        self._lock: int | None = None
        # the lock file is gone and cannot be made again: warned once
        self._relock_failing = False

    def claim(self, *, shared: bool = False) -> None:
        """Hold the folder's lock until release(), or until this process ends.

        A live reader holds it alone: two readers saving one state would each
        overwrite the other's, and a later restart would resume from whichever
        wrote last. A file build holds it shared, so it neither replaces a
        live reader's document nor runs beside one starting; it creates no
        lock file, so a build that writes nothing leaves no folder behind.

        :raise StateError: another running reader holds it.
        """
        lock_path = self.path.parent / LOCK_FILE
        try:
            self._lock = _open_locked(lock_path, shared=shared)
        except BlockingIOError:
            raise StateError(
                f"another reader is using {self.out_dir} (it holds {lock_path}); "
                "stop it or use another --out folder"
            ) from None
        except FileNotFoundError:
            if shared:
                # no live reader ever used the folder
                return
            raise StateError(f"cannot open {lock_path}: not found") from None
        except OSError as error:
            raise StateError(f"cannot open {lock_path}: {error.strerror}") from None

    def check_claim(self) -> None:
        """Make sure the lock held is still the folder's; lock it again if not.

        Deleting the folder (or its lock file) under a running reader would
        let a second reader claim a new lock file and write beside it. So a
        running reader calls this every second and before each save: the lock
        is taken again when nobody took it meanwhile. When no lock file can be
        made (the folder is not writable), the old lock is kept and the save
        that follows reports the trouble.

        :raise StateError: another reader holds the folder's lock now.
        """
        if self._lock is None:
            return
        lock_path = self.path.parent / LOCK_FILE
        held = os.fstat(self._lock)
        try:
            found = os.stat(lock_path)
        except OSError:
            found = None
        if found is not None and (found.st_dev, found.st_ino) == (
            held.st_dev,
            held.st_ino,
        ):
            return
        try:
            descriptor = _open_locked(lock_path)
        except BlockingIOError:
            raise StateError(
                f"{lock_path} was removed while this reader held it, and another "
                f"reader took {self.out_dir} over; stopping without writing more"
            ) from None
        except OSError as error:
            if not self._relock_failing:
                logger.warning(
                    "%s was removed and cannot be made again (%s): another "
                    "reader could start on %s; retrying every second",
                    lock_path,
                    error.strerror,
                    self.out_dir,
                )
            self._relock_failing = True
            return
        self._relock_failing = False
        os.close(self._lock)
        self._lock = descriptor
        logger.warning("%s was removed while in use; locked it again", lock_path)

    def release(self) -> None:
        """Let another reader use the folder."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def load(self, source: dict) -> ReaderState | None:
        """Return the saved state for this source, None if there is none.

        :raise StateError: the file is unreadable or belongs to another source.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StateError(f"cannot read {self.path}: {error.strerror}") from None
        try:
            state = ReaderState.from_bytes(data)
        except StateError as error:
            raise StateError(f"{self.path}: {error}") from None
        if state.source != source:
            if not state.counts.read and not state.offsets:
                # a reader stopped before reading anything (a mistyped
                # --topic, then Ctrl-C): its state holds nothing to keep
                logger.info(
                    "%s held nothing read from %s; starting afresh",
                    self.path,
                    _describe(state.source),
                )
                return None
            raise StateError(
                f"{self.path} was saved while reading {_describe(state.source)}, "
                f"not {_describe(source)}; use another --out folder or remove it"
            )
        return state

    def save(self, state: ReaderState) -> None:
        """Write the state atomically (temporary file, fsync, rename)."""
        # the counters hold names from the traffic the document leaves out
        # (query names that are values, map keys): for this user only
        write_atomic(self.path, state.to_bytes(), mode=STATE_FILE_MODE)


def _open_locked(lock_path: Path, *, shared: bool = False) -> int:
    """Open a folder's lock file and lock it; return the descriptor.

    Alone, the file (and its folder) is made if missing; shared, it is only
    opened. A file system without locks leaves it unlocked, with a warning.

    :raise BlockingIOError: another process holds the lock.
    :raise OSError: the file cannot be made or opened.
    """
    if shared:
        descriptor = os.open(lock_path, os.O_RDONLY)
    else:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(
            descriptor, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        )
    except BlockingIOError:
        os.close(descriptor)
        raise
    except OSError as error:
        # a file system without locks: go on, as before there was one
        logger.warning("cannot lock %s: %s", lock_path, error.strerror)
    return descriptor


def _describe(source: dict) -> str:
    """Name a source for a message, e.g. `topic http_recordings`."""
    if source.get("kind") == "kafka":
        return f"topic {source.get('topic')}"
    return str(source)
