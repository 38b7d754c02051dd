"""Writing the rendered documents to disk, debounced, and logging progress."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson

from spec_from_stream.atomic import write_atomic
from spec_from_stream.config import (
    BEHIND_WRITE_INTERVAL,
    PROGRESS_INTERVAL,
    WRITE_INTERVAL,
)
from spec_from_stream.state import Counts
from spec_from_stream.yaml_text import to_yaml_text

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-z0-9._-]+")
# a host name or address as HTTP writes it, with an optional port
_PLAIN_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"
)

# called with {host: document as JSON bytes} after every write (the viewer)
Listener = Callable[[dict[str, bytes]], None]


class OutputError(RuntimeError):
    """The output folder cannot be written (not a folder, no permission, full)."""


def check_out_dir(out_dir: Path) -> None:
    """Create the output folder if needed and make sure files can be written there.

    Checked before reading, so a mistake in --out is one error at start rather
    than a failure after the whole input was read.

    :raise OutputError: the folder cannot be created or written to.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder")
    # folders made only for the probe go again: nothing is left behind before
    # there is something to write
    missing = [folder for folder in (out_dir, *out_dir.parents) if not folder.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # a probe file tells what permissions, mounts and ACLs really allow
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        raise OutputError(f"cannot write to {out_dir}: {_reason(error)}") from None
    finally:
        for folder in missing:
            with contextlib.suppress(OSError):
                folder.rmdir()


def _reason(error: OSError) -> str:
    """The readable part of an OS error, without the errno and file name."""
    return error.strerror or type(error).__name__


def write_failure(out_dir: Path, error: OSError) -> OutputError:
    """Describe a failed write of a document in one line."""
    where = error.filename or out_dir
    return OutputError(f"cannot write {where}: {_reason(error)}")


def safe_host_dir(host: str) -> str:
    """Turn a recorded host (maybe with a port) into a safe folder name."""
    name = _UNSAFE.sub("_", host.lower()).strip("._")
    # long names are cut; document_paths() keeps cut or mapped names unique
    return name[:100] or "host"


def document_paths(hosts: list[str]) -> dict[str, Path]:
    """Map each host to its YAML path relative to OUT (JSON sits beside it)."""
    if len(hosts) == 1:
        return {hosts[0]: Path("openapi.yaml")}
    paths: dict[str, Path] = {}
    used: set[str] = set()
    # well-formed host names choose their folder first, so a made-up
    # look-alike (".api.example.com") cannot take "api.example.com/"
    for host in sorted(hosts, key=lambda host: (not _PLAIN_HOST.fullmatch(host), host)):
        name = folder = safe_host_dir(host)
        if folder in used:
            digest = hashlib.sha1(host.encode("utf-8", "surrogatepass")).hexdigest()
            folder = f"{name}-{digest[:8]}"
            number = 2
            while folder in used:
                # the suffix met another host's own name ("x" and "x-92590000")
                folder = f"{name}-{digest[:8]}-{number}"
                number += 1
        used.add(folder)
        paths[host] = Path(folder) / "openapi.yaml"
    return paths


def to_json(document: dict) -> bytes:
    """Serialise one document as indented JSON."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)


def to_yaml(document: dict) -> bytes:
    """Serialise one document as block-style YAML, keys in document order."""
    return to_yaml_text(document).encode("utf-8")


class SpecWriter:
    """Writes OUT/openapi.{yaml,json}, or OUT/<host>/openapi.* for several hosts."""

    def __init__(self, out_dir: Path, listener: Listener | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.listener = listener
        self._written: set[Path] = set()

    def write(self, documents: dict[str, dict]) -> list[Path]:
        """Write every document atomically; return the YAML paths written."""
        layout = document_paths(list(documents))
        written: set[Path] = set()
        json_by_host: dict[str, bytes] = {}
        for host, relative in layout.items():
            document = documents[host]
            yaml_path = self.out_dir / relative
            json_path = yaml_path.with_suffix(".json")
            json_bytes = to_json(document)
            write_atomic(json_path, json_bytes)
            write_atomic(yaml_path, to_yaml(document))
            json_by_host[host] = json_bytes
            written.update((yaml_path, json_path))

        # the host count changed the layout: drop our files of the old one
        for stale in self._written - written:
            with contextlib.suppress(OSError):
                stale.unlink()
        self._written = written
        if self.listener is not None:
            self.listener(json_by_host)
        return sorted(path for path in written if path.suffix == ".yaml")


class Schedule:
    """Says when something is due: at most once per interval, only if changed.

    The interval is ``behind_interval`` while ``pace`` says the reader is
    behind its source.
    """

    def __init__(
        self,
        interval: float = WRITE_INTERVAL,
        behind_interval: float = BEHIND_WRITE_INTERVAL,
    ) -> None:
        self.interval = self.usual_interval = interval
        self.behind_interval = behind_interval
        self.dirty = False
        self._last: float | None = None

    def pace(self, behind: bool) -> None:
        """Write less often while the reader is behind, as usual otherwise."""
        self.interval = self.behind_interval if behind else self.usual_interval

    def mark(self) -> None:
        """Note that there is something new to write."""
        self.dirty = True

    def due(self, now: float) -> bool:
        """Tell whether a write should happen now."""
        if not self.dirty:
            return False
        return self._last is None or now - self._last >= self.interval

    def done(self, now: float) -> None:
        """Record that the write happened."""
        self.dirty = False
        self._last = now


class Progress:
    """Logs one INFO line every few seconds while the counts move."""

    def __init__(self, interval: float = PROGRESS_INTERVAL, read: int = 0) -> None:
        self.interval = interval
        self._last_time: float | None = None
        # what a resumed reader had read: the resume line said so already
        self._last_read = read

    def maybe_log(
        self, now: float, counts: Counts, operations: Callable[[], int]
    ) -> bool:
        """Log the progress line if it is time and something changed.

        ``operations`` is called only then: counting them resolves every path.
        """
        if counts.read == self._last_read:
            return False
        if self._last_time is not None and now - self._last_time < self.interval:
            return False
        self.log(counts, operations())
        self._last_time = now
        return True

    def log(self, counts: Counts, operations: int) -> None:
        """Log the progress line now."""
        self._last_read = counts.read
        logger.info("progress: %s", counts.describe(operations))
