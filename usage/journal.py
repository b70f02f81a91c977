"""A write-ahead journal for usage events, so a process killed outright (SIGKILL, OOM) loses no row; the
same journal, with another `Codec`, keeps the conversation exchanges waiting to be saved (context.state).

Format: JSON lines. The first line of a segment names the fields,
`{"usage_journal": 1, "fields": ["created_at", "request_id", ...]}`; every other line is one event,
the array of its values in that order (orjson; `created_at` as RFC 3339 with microseconds and
offset), appended with one `os.write` to an O_APPEND file. Arrays, not objects: half the bytes and
half the encoding time, and the header keeps old segments readable when `UsageEvent` changes.
No fsync: the page cache outlives the process; a crash of the whole machine is out of scope.

Segments: each process writes its own files, `<pid>-<random>-<seq>.jsonl`, and holds an exclusive
`flock` on each until it deletes it. The active segment is sealed once it passes `segment_bytes`;
a sealed segment is deleted as soon as every event in it is committed to the database, and at
shutdown every fully committed segment goes. A segment is created under a hidden name, locked,
then renamed, so nobody can take the lock of a live segment in between.

Replay: a segment whose lock another process can take has lost its owner. Its events are written
again (the write is idempotent by request id), then it is deleted. A torn or garbled line (a write cut
short) is skipped and counted. Keep one journal directory per database, and one per kind of item: events
replay into whichever database the replaying process uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import operator
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from usage.events import UsageEvent

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"
SEGMENT_BYTES = 1 << 20  # ~1,500 events: also the most a replay writes again needlessly
RETRY_AFTER_SECONDS = 30.0  # after an I/O error the journal is off this long, then tried again
REPLAY_BATCH = 500
STALE_HIDDEN_SECONDS = 60.0

@dataclass(frozen=True)
class Codec:
    """How one kind of item becomes a journal line and back: `values` gives the item's field values in the
    order of `fields` (None: this item is not journaled), `build` makes the item from a name -> value map.
    The first line of a segment names the fields, so segments written by an older version stay readable."""

    kind: str  # the header's key, e.g. "usage_journal"
    fields: tuple[str, ...]
    values: Callable[[Any], Sequence[Any] | None]
    build: Callable[[dict[str, Any]], Any]

    @property
    def header(self) -> bytes:
        return orjson.dumps({self.kind: 1, "fields": self.fields}, option=orjson.OPT_APPEND_NEWLINE)

    def encode(self, item: Any) -> bytes | None:
        values = self.values(item)
        return None if values is None else orjson.dumps(values, option=orjson.OPT_APPEND_NEWLINE)

    def decode(self, line: bytes, names: Sequence[str] | None = None) -> Any:
        """Raises ValueError (or TypeError, KeyError) when the line is not one whole item."""
        names = self.fields if names is None else names
        values = orjson.loads(line)
        if not isinstance(values, list) or len(values) != len(names):
            raise ValueError("not an item line")
        return self.build(dict(zip(names, values, strict=True)))


def _usage_event(data: dict[str, Any]) -> UsageEvent:
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    known = UsageEvent.__dataclass_fields__
    return UsageEvent(**{name: value for name, value in data.items() if name in known})


FIELDS = tuple(field.name for field in fields(UsageEvent))
USAGE = Codec("usage_journal", FIELDS, operator.attrgetter(*FIELDS), _usage_event)
HEADER = USAGE.header
Write = Callable[[Sequence[Any]], int]


def encode(event: UsageEvent) -> bytes:
    return USAGE.encode(event)  # never None: every usage event is journaled


def decode(line: bytes, names: Sequence[str] = FIELDS) -> UsageEvent:
    """Raises ValueError (or TypeError, KeyError) when the line is not one whole event."""
    return USAGE.decode(line, names)


@dataclass(eq=False, slots=True)
class Segment:
    path: Path
    fd: int
    size: int = 0
    pending: int = 0  # events appended here and not yet committed
    sealed: bool = False


@dataclass(slots=True)
class ReplayResult:
    segments: int = 0
    events: int = 0
    skipped_lines: int = 0


class Journal:
    """Thread-safe. `append` never raises: on an I/O error it logs once and is off for a while."""

    def __init__(self, directory: Path | Callable[[], Path], *, segment_bytes: int = SEGMENT_BYTES,
                 codec: Codec = USAGE) -> None:
        self._codec = codec
        self._directory_source = directory
        self._directory: Path | None = None
        self._segment_bytes = segment_bytes
        self._prefix = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._seq = 0
        self._lock = threading.Lock()
        self._active: Segment | None = None
        self._segments: dict[Path, Segment] = {}
        self._off_until = 0.0
        self._failing = False

    @property
    def directory(self) -> Path:
        if self._directory is None:
            source = self._directory_source
            self._directory = source() if callable(source) else Path(source)
        return self._directory

    def segment_paths(self) -> list[Path]:
        """This process's segments not yet deleted (oldest first)."""
        with self._lock:
            return list(self._segments)

    # -- the hot path ---------------------------------------------------------------------------

    def append(self, event: Any) -> Segment | None:
        """Journal one event; returns its segment (pass it to `committed` later), None if not journaled."""
        if self._off_until:
            if time.monotonic() < self._off_until:
                return None
            self._off_until = 0.0  # try again
        try:
            line = self._codec.encode(event)
        except TypeError:  # orjson.JSONEncodeError: a value JSON cannot hold; the item is still buffered
            logger.exception("%s item %s cannot be journaled", self._codec.kind, getattr(event, "request_id", "?"))
            return None
        if line is None:  # an item this journal's codec leaves out
            return None
        with self._lock:
            try:
                segment = self._active or self._open_segment()
                written = os.write(segment.fd, line)
            except Exception as error:  # unwritable directory, disk full, ...: never fail the request
                self._fail(error)
                return None
            segment.pending += 1
            segment.size += written
            if written < len(line):  # disk full: the torn line stays last in a sealed segment
                self._fail(OSError(f"short write to {segment.path}"))
                return segment
            if self._failing:
                self._failing = False
                logger.info("journal in %s works again", self.directory)
            if segment.size >= self._segment_bytes:
                self._seal(segment)
            return segment

    # -- commit bookkeeping ---------------------------------------------------------------------

    def committed(self, counts: Mapping[Segment, int]) -> None:
        """`counts[segment]` events of that segment are now in the database."""
        with self._lock:
            for segment, count in counts.items():
                segment.pending -= count
                if segment.sealed and segment.pending <= 0:
                    self._delete(segment)

    def close(self) -> None:
        """Seal the active segment and delete every fully committed one. Later appends open a new one.

        Segments with uncommitted events keep their lock until they are committed or the process
        exits; then they are some other process's to replay.
        """
        with self._lock:
            if self._active is not None:
                self._seal(self._active)
            for segment in [s for s in self._segments.values() if s.pending <= 0]:
                self._delete(segment)
            if not self._segments and self._directory is not None:
                with contextlib.suppress(OSError):  # not empty: another process's segments
                    os.rmdir(self._directory)  # no empty directory left per (test) database

    def _open_segment(self) -> Segment:
        directory = self.directory
        directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{self._prefix}-{self._seq:06d}{SUFFIX}"
        hidden = directory / f".{name}.new"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(hidden, flags, 0o600)
        except FileNotFoundError:  # another process closing its journal removed the empty directory
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(hidden, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            header = self._codec.header
            if os.write(fd, header) != len(header):
                raise OSError(f"short write to {hidden}")
            path = directory / name
            os.rename(hidden, path)
        except OSError:
            os.close(fd)
            _unlink(hidden)
            raise
        segment = self._active = self._segments[path] = Segment(path, fd, size=len(header))
        return segment

    def _seal(self, segment: Segment) -> None:
        segment.sealed = True
        if self._active is segment:
            self._active = None
        if segment.pending <= 0:
            self._delete(segment)

    def _delete(self, segment: Segment) -> None:
        # Unlink while still holding the lock, so no one replays a file we are done with.
        if self._segments.pop(segment.path, None) is None:
            return
        if self._active is segment:
            self._active = None
        try:
            _unlink(segment.path)
            os.close(segment.fd)
        except OSError:
            logger.exception("could not delete journal segment %s", segment.path)

    def _fail(self, error: Exception) -> None:
        if not self._failing:
            logger.warning(
                "journal in %s failed (%s): items are only in memory until written; retrying every %.0f s",
                self._directory or self._directory_source, error, RETRY_AFTER_SECONDS,
            )
        self._failing = True
        self._off_until = time.monotonic() + RETRY_AFTER_SECONDS
        if self._active is not None:
            self._seal(self._active)

    # -- replay of dead processes' segments -----------------------------------------------------

    def orphans(self) -> list[Path]:
        """Segments in the directory that are not this process's (their owner may be alive)."""
        try:
            entries = sorted(self.directory.iterdir())
        except OSError:
            return []
        with self._lock:
            own = set(self._segments)
        orphans = []
        for path in entries:
            if path.name.endswith(SUFFIX) and not path.name.startswith(".") and path not in own:
                orphans.append(path)
            elif path.name.startswith(".") and path.name.endswith(".new"):
                _remove_stale(path)  # a process died between creating and naming a segment
        return orphans

    def replay(self, path: Path, write: Write) -> ReplayResult | None:
        """Write the events of one dead process's segment, then delete it.

        Returns None when the segment is not an orphan (its owner holds the lock, or it is gone).
        Raises what `write` raises; the segment then stays for a later replay.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # its owner is alive
            if not _still_named(fd, path):
                return None  # deleted by its owner, or by another replayer, since we listed it
            result = ReplayResult(segments=1)
            with os.fdopen(fd, "rb", closefd=False) as file:
                for batch in _batches(_read_events(file, result, self._codec), REPLAY_BATCH):
                    write(batch)
                    result.events += len(batch)
            _unlink(path)
            if result.skipped_lines:
                logger.warning("skipped %d torn line(s) replaying %s", result.skipped_lines, path.name)
            return result
        finally:
            os.close(fd)

    def replay_all(self, write: Write) -> ReplayResult:
        """Replay every orphaned segment now (one call; the recorder replays segment by segment)."""
        total = ReplayResult()
        for path in self.orphans():
            result = self.replay(path, write)
            if result is not None:
                total.segments += result.segments
                total.events += result.events
                total.skipped_lines += result.skipped_lines
        return total


def read_segment(path: Path, codec: Codec = USAGE) -> tuple[list[Any], int]:
    """The events in a segment file and the number of lines skipped as torn or garbled."""
    result = ReplayResult()
    with path.open("rb") as file:
        events = list(_read_events(file, result, codec))
    return events, result.skipped_lines


def _read_events(file, result: ReplayResult, codec: Codec) -> Iterator[Any]:
    names: Sequence[str] | None = None
    for line in file:
        if not line.strip():
            continue
        if names is None:
            try:
                header = orjson.loads(line)
                names = tuple(header["fields"])
                continue
            except (ValueError, TypeError, KeyError):
                names = codec.fields  # no readable header: assume this version's field order
        try:
            yield codec.decode(line, names)
        except (ValueError, TypeError, KeyError):
            result.skipped_lines += 1


def _batches(events: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _still_named(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return held.st_nlink > 0 and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _remove_stale(path: Path) -> None:
    """A hidden segment lives for microseconds: one a minute old belongs to a dead process (and is empty)."""
    try:
        if time.time() - path.stat().st_mtime > STALE_HIDDEN_SECONDS:
            _unlink(path)
    except OSError:
        pass


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
