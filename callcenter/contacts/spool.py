"""The contact log's durable spool: contact events the database refused, kept on disk in order.

Each process appends to its own file, ``<spool dir>/contacts-<pid>-<n>.jsonl``, one JSON line per
event (:func:`to_line`: key, linkedid, kind, ``at`` as ISO 8601 with its offset, data), written
and fsync'ed before the writer moves on, and holds an exclusive ``flock`` on it while it runs.
On start-up a process takes over every spool file no running process holds (a previous run
that stopped with events still spooled) and replays it before anything newer. Once everything
spooled is stored, the file is truncated.

A poison event (one the database refuses while it answers otherwise, e.g. a constraint it
violates) goes after a number of tries to ``<spool dir>/dead-letter.jsonl`` (the same line with
the error and when it was given up), so that it does not hold up every later event.

Idempotence: every event has a key (:func:`event_key`), stored in the unique column
``contact_events.event_key``; an event whose key is stored already is not applied again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
from collections import Counter, deque
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ivr.events import SCHEMA_VERSION
from ivr.ports import ContactEvent, EventKind

log = logging.getLogger(__name__)

SPOOL_GLOB = "contacts-*.jsonl"
_instances = itertools.count(1)
DEAD_LETTER_FILE = "dead-letter.jsonl"
FORMAT_VERSION = 1


def event_key(event: ContactEvent, occurrence: int = 0) -> str:
    """The event's own key, or one derived from its content (linkedid, kind, moment, data);
    ``occurrence`` tells apart identical events recorded one after the other (the n-th time
    the same content is recorded for the contact)."""
    if event.key:
        return event.key
    content = json.dumps([event.linkedid, str(event.kind), event.at.astimezone(UTC).isoformat(),
                          dict(event.data), occurrence],
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(content.encode()).hexdigest()


class KeyAssigner:
    """Gives each recorded event without a key its content key, counting identical contents
    per contact so that two identical events (same moment and data) get different keys while
    the same event derived again by another process gets the same one."""

    def __init__(self, max_contacts: int = 10_000) -> None:
        self.max_contacts = max_contacts
        self._seen: dict[str, Counter[str]] = {}

    def __call__(self, event: ContactEvent) -> ContactEvent:
        if event.key:
            return event
        seen = self._seen.setdefault(event.linkedid, Counter())
        base = event_key(event)
        occurrence = seen[base]
        keyed = replace(event, key=base if occurrence == 0 else event_key(event, occurrence))
        seen[base] += 1
        if event.kind is EventKind.CALL_ENDED:
            self._seen.pop(event.linkedid, None)
        while len(self._seen) > self.max_contacts:
            self._seen.pop(next(iter(self._seen)))
        return keyed


def to_line(event: ContactEvent, **extra: Any) -> str:
    """One line of the spool (no newline): ``data`` is the record's JSON form
    (ivr/events.py), ``schema`` the version of that contract."""
    record: dict[str, Any] = {"v": FORMAT_VERSION, "schema": SCHEMA_VERSION,
                              "key": event_key(event), "linkedid": event.linkedid,
                              "kind": str(event.kind), "at": event.at.isoformat(),
                              "data": event.data, **extra}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


def from_line(line: str) -> ContactEvent:
    """The event of a spool line, this version's or an older one's (a line without
    ``schema`` is from before the typed records: the same JSON form). ValueError (an
    ``EventFormatError`` when the data does not fit its kind) for a line we cannot read."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError(f"a spool line that is not an object: {line[:200]}")
    for name, ours in (("v", FORMAT_VERSION), ("schema", SCHEMA_VERSION)):
        theirs = record.get(name, 1)
        if not isinstance(theirs, int) or theirs > ours:
            raise ValueError(f"spool line of {name} {theirs!r}, newer than ours ({ours}): "
                             f"{line[:200]}")
    at = datetime.fromisoformat(record["at"])
    if at.tzinfo is None:
        raise ValueError(f"spooled event without an offset: {line[:200]}")
    return ContactEvent.parse(str(record["linkedid"]), str(record["kind"]),
                              record.get("data") or {}, at=at,
                              key=str(record.get("key") or ""))


def _write(handle: IO[str], text: str) -> None:
    handle.write(text)
    handle.flush()
    os.fsync(handle.fileno())


class Spool:
    """The events waiting for the database, in order: in memory and (with a directory) on
    disk. Not thread-safe: one owner (the contact log's event loop) calls it."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.path: Path | None = None
        self.dead_letter_path: Path | None = None
        self.pending: deque[ContactEvent] = deque()
        self.dead_letters = 0  # lines in the dead-letter file
        self.adopted: list[str] = []  # files taken over at start-up
        self._handle: IO[str] | None = None

    def __len__(self) -> int:
        return len(self.pending)

    def open(self) -> None:
        """Take the process's spool file (and any orphaned one) and load what it holds."""
        if self.directory is None or self._handle is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # one file per contact log: a process may hold more than one (tests, a CLI command
        # next to the app)
        self.path = self.directory / f"contacts-{os.getpid()}-{next(_instances)}.jsonl"
        self.dead_letter_path = self.directory / DEAD_LETTER_FILE
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held while running)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise RuntimeError(f"the contact spool {self.path} is held by another "
                               f"contact log") from None
        self._handle = handle
        dead = self._dead_keys()
        self.dead_letters = len(dead)
        handle.seek(0)
        lines = [line for line in handle.read().splitlines() if line.strip()]
        orphans = [p for p in self.directory.glob(SPOOL_GLOB) if p != self.path]
        for orphan in sorted(orphans, key=lambda p: (p.stat().st_mtime, p.name)):
            taken = self._take_over(orphan)
            if taken is not None:
                _write(handle, "".join(f"{line}\n" for line in taken))
                orphan.unlink()
                lines += taken
                self.adopted.append(orphan.name)
        for line in lines:
            try:
                event = from_line(line)
            except (ValueError, KeyError, TypeError):
                log.error("unreadable line in the contact spool %s kept aside: %s",
                          self.path, line[:300])
                self._dead_letter_line(line, "unreadable spool line")
                continue
            if event.key not in dead:
                self.pending.append(event)
        if self.pending:
            log.warning("contact spool %s: %d events from before the start-up to replay",
                        self.path, len(self.pending))

    @staticmethod
    def _take_over(path: Path) -> list[str] | None:
        """The lines of another process's spool file, when no running process holds it."""
        try:
            with open(path, encoding="utf-8") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return None  # a live process's spool
                return [line for line in handle.read().splitlines() if line.strip()]
        except FileNotFoundError:
            return None

    def _dead_keys(self) -> set[str]:
        keys: set[str] = set()
        if self.dead_letter_path is None or not self.dead_letter_path.exists():
            return keys
        with open(self.dead_letter_path, encoding="utf-8") as handle:
            for line in handle:
                with contextlib.suppress(ValueError, AttributeError):
                    keys.add(str(json.loads(line).get("key", "")))
        return keys

    def append(self, event: ContactEvent) -> None:
        """Keep ``event`` after every pending one; on disk (fsync'ed) before this returns."""
        if self._handle is not None:
            _write(self._handle, to_line(event) + "\n")
        self.pending.append(event)

    def head(self) -> ContactEvent | None:
        return self.pending[0] if self.pending else None

    def pop(self) -> None:
        """The head is stored: forget it; once nothing is pending, empty the file."""
        self.pending.popleft()
        if not self.pending and self._handle is not None:
            self._handle.truncate(0)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def dead_letter(self, event: ContactEvent, error: str, at: datetime) -> None:
        """Move the head (``event``) to the dead-letter file."""
        self._dead_letter_line(to_line(event, error=error[:500], given_up_at=at.isoformat()),
                               error)
        self.pop()

    def _dead_letter_line(self, line: str, error: str) -> None:
        self.dead_letters += 1
        if self.dead_letter_path is None:
            return
        if not line.lstrip().startswith("{"):
            line = json.dumps({"v": FORMAT_VERSION, "unreadable": line, "error": error},
                              ensure_ascii=False)
        with open(self.dead_letter_path, "a", encoding="utf-8") as handle:
            _write(handle, line + "\n")

    def close(self) -> None:
        """Release the file: what it holds stays for the next start-up; an empty one goes."""
        if self._handle is not None:
            if not self.pending and self.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # still locked: no other process took it meanwhile
            self._handle.close()
            self._handle = None

    def describe(self) -> dict[str, Any]:
        return {"depth": len(self.pending), "dead_letters": self.dead_letters,
                "path": str(self.path) if self.path else None,
                "dead_letter_path": str(self.dead_letter_path) if self.dead_letter_path
                else None,
                "durable": self.path is not None}
