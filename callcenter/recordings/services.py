"""The recordings store: rows, files, who may listen, the audit of each playback, retention.

Asterisk writes every file (agent calls with ``MixMonitor`` from the ``hotline-record``
dialplan, voice messages with ``RECORD FILE``) into one directory, ``HOTLINE_RECORDINGS_DIR``
here and ``HOTLINE_PBX_RECORDINGS_DIR`` as Asterisk sees it (the sandbox bind-mounts the one
onto the other, so the files outlive the sandbox). A row keeps the path relative to that store.

* An agent call: the dialplan starts ``MixMonitor`` once per caller channel when the caller
  enters a queue that records and says so with ``UserEvent(HotlineRecording)``;
  :class:`RecordingWatcher` turns that event into a row. The file holds only the bridged audio
  (option ``b``), every agent leg of the call in turn (a transfer to the expert seat goes on in
  the same file).
* A voice message: the ticket service adds the row with the ticket (callcenter/tickets).
"""

from __future__ import annotations

import asyncio
import logging
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import NoReturn

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.auth.models import Role
from callcenter.auth.services import AuthUser, audit
from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.errors import DomainError, NotFound
from callcenter.recordings.models import Recording, RecordingKind
from callcenter.settings import Settings
from ivr.ami.client import AmiClient
from ivr.ami.events import AmiEvent
from ivr.clock import Clock

log = logging.getLogger(__name__)

USER_EVENT = "HotlineRecording"  # extensions.conf, [hotline-record]
SEES_ALL = frozenset({Role.SUPERVISOR, Role.ADMIN})
AUDIO_TYPE = "audio/wav"


class RecordingRefused(DomainError, PermissionError):
    """The user may not listen to this recording (403; the reason in Chinese)."""

    default_status = 403


@dataclass(frozen=True)
class RecordingInfo:
    """A row with what its file holds now (``available`` false: no file, e.g. a caller who
    hung up before any agent answered, or a file already purged)."""

    id: int
    linkedid: str
    kind: str
    queue: str | None
    started_at: datetime
    available: bool
    bytes: int
    seconds: float


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    rows: int
    files: int


def relative_path(path: str) -> str:
    """A stored path: relative, within the store, POSIX (ValueError otherwise)."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or "\\" in path:
        raise ValueError(f"not a path within the recordings store: {path!r}")
    return str(pure)


def wav_seconds(path: Path) -> float:
    """The duration of a WAV file in seconds (0.0 for an unreadable or empty one)."""
    try:
        with wave.open(str(path), "rb") as audio:
            rate = audio.getframerate()
            return audio.getnframes() / rate if rate else 0.0
    except (OSError, EOFError, wave.Error):
        return 0.0


class RecordingService:
    def __init__(self, db: Database, store: Path, clock: Clock, *, retention_days: int,
                 agents_own: bool = False) -> None:
        self.db = db
        self.store = store
        self.clock = clock
        self.retention_days = retention_days
        self.agents_own = agents_own  # agents and experts may listen to their own calls

    # -- writes ---------------------------------------------------------------------------

    def register(self, linkedid: str, kind: RecordingKind | str, path: str,
                 queue: str | None = None, at: datetime | None = None) -> Recording:
        """Add the row of a recording (the same path twice: the first row stays)."""
        row = Recording(linkedid=linkedid[:64], kind=str(RecordingKind(kind)),
                        path=relative_path(path), queue=queue[:32] if queue else None,
                        started_at=at or self.clock())
        try:
            with self.db.transaction() as session:
                session.add(row)
        except IntegrityError:
            with self.db.session() as session:
                existing = session.scalar(select(Recording).where(Recording.path == row.path))
            if existing is None:
                raise
            return existing
        return row

    def purge(self, now: datetime | None = None) -> PurgeResult:
        """Delete every recording started more than ``retention_days`` before ``now`` (the
        process clock's moment when not given): its file, then its row."""
        cutoff = (now or self.clock()) - timedelta(days=self.retention_days)
        with self.db.session() as session:
            old = session.scalars(select(Recording).where(Recording.started_at < cutoff)).all()
        files = 0
        for row in old:
            file = self.file_of(row)
            if file.is_file():
                file.unlink()
                files += 1
        if old:
            with self.db.transaction() as session:
                session.execute(delete(Recording).where(
                    Recording.id.in_([row.id for row in old])))
        log.info("recordings purged: %d rows, %d files, started before %s", len(old), files,
                 cutoff.isoformat())
        return PurgeResult(cutoff=cutoff, rows=len(old), files=files)

    # -- reads ----------------------------------------------------------------------------

    def file_of(self, row: Recording) -> Path:
        return self.store / relative_path(row.path)

    def info(self, row: Recording) -> RecordingInfo:
        file = self.file_of(row)
        size = file.stat().st_size if file.is_file() else 0
        return RecordingInfo(id=row.id, linkedid=row.linkedid, kind=row.kind, queue=row.queue,
                             started_at=row.started_at, available=size > 0, bytes=size,
                             seconds=round(wav_seconds(file), 2) if size else 0.0)

    def of_contact(self, linkedid: str) -> list[RecordingInfo]:
        with self.db.session() as session:
            rows: Sequence[Recording] = session.scalars(
                select(Recording).where(Recording.linkedid == linkedid)
                .order_by(Recording.started_at, Recording.id)).all()
        return [self.info(row) for row in rows]

    def may_list(self, user: AuthUser, contact: Contact) -> bool:
        return user.role in SEES_ALL or user.username in contact.agents()

    def may_listen(self, user: AuthUser, contact: Contact) -> bool:
        """What :meth:`open_for` will allow ``user`` for a recording of ``contact``."""
        return user.role in SEES_ALL or (self.agents_own and user.username in contact.agents())

    def open_for(self, recording_id: int, user: AuthUser, contacts: ContactService
                 ) -> tuple[RecordingInfo, Path]:
        """The recording ``recording_id`` for ``user`` to listen to, its playback audited
        (a refusal is audited too): supervisors and admins any; agents and experts their own
        calls (connected to the caller) when ``agents_own`` allows it."""
        if user.role not in SEES_ALL and not self.agents_own:
            self._refuse(user, recording_id, None, "只有班长和管理员可以收听录音")
        with self.db.session() as session:
            row = session.get(Recording, recording_id)
        if row is None:
            raise NotFound(f"录音 {recording_id} 不存在")
        if user.role not in SEES_ALL:
            contact = contacts.get_by_linkedid(row.linkedid)
            if contact is None or user.username not in contact.agents():
                self._refuse(user, recording_id, row, "只能收听本人接听过的通话录音")
        info = self.info(row)
        if not info.available:
            raise NotFound(f"录音 {recording_id} 的文件不存在（通话未接通或已过保存期限）")
        with self.db.transaction() as session:
            self._audit(session, user, recording_id, row, "recording.play")
        return info, self.file_of(row)

    def _refuse(self, user: AuthUser, recording_id: int, row: Recording | None,
                reason: str) -> NoReturn:
        with self.db.transaction() as session:
            self._audit(session, user, recording_id, row, "recording.refused", reason=reason)
        raise RecordingRefused(reason)

    def _audit(self, session: Session, user: AuthUser, recording_id: int,
               row: Recording | None, action: str, **detail: str) -> None:
        if row is not None:
            detail.update(linkedid=row.linkedid, kind=row.kind)
        audit(session, user.username, action, str(recording_id), at=self.clock(),
              role=str(user.role), **detail)


def recording_service(settings: Settings, db: Database, clock: Clock) -> RecordingService:
    """The recordings service as ``settings`` configure it."""
    return RecordingService(db, settings.recordings_dir, clock,
                            retention_days=settings.recordings_retention_days,
                            agents_own=settings.recordings_agents_own)


def chunks(path: Path, size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes in pieces (for a streamed response)."""
    with path.open("rb") as stream:
        while piece := stream.read(size):
            yield piece


class RecordingWatcher:
    """Turns the dialplan's ``UserEvent(HotlineRecording)`` into a recording row."""

    def __init__(self, service: RecordingService, ami: AmiClient) -> None:
        self.service = service
        self.registered = 0
        ami.on(AmiEvent, self._on_event, names=("UserEvent",))

    async def _on_event(self, event: AmiEvent) -> None:
        if event.name.lower() != "userevent" or event.header("UserEvent") != USER_EVENT:
            return
        linkedid, path = event.header("Linkedid"), event.header("File")
        if not linkedid or not path:
            log.warning("HotlineRecording event without Linkedid or File: ignored")
            return
        try:
            await asyncio.to_thread(self.service.register, linkedid, RecordingKind.CALL, path,
                                    event.header("Queue") or None)
        except ValueError:
            log.warning("HotlineRecording event with a bad file name: ignored")
            return
        self.registered += 1
