"""Recordings over HTTP: a contact's list, and the audio of one (each playback audited).

``GET /contacts/{id}/recordings``: who may open the contact (supervisors and admins; agents
and experts their own calls). ``GET /recordings/{id}/audio``: supervisors and admins; agents
and experts their own calls only with ``HOTLINE_RECORDINGS_AGENTS_OWN=true``. Every playback
and every refusal is written to the audit log (``recording.play``, ``recording.refused``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from callcenter.auth.deps import CurrentUser
from callcenter.deps import ContactServiceDep
from callcenter.edge import DB_INT_MAX
from callcenter.errors import NotFound
from callcenter.openapi import problems
from callcenter.recordings.services import (
    AUDIO_TYPE,
    RecordingInfo,
    RecordingRefused,
    RecordingService,
    chunks,
    recording_service,
)

router = APIRouter(tags=["recordings"])
Id = Annotated[int, Path(ge=1, le=DB_INT_MAX)]


def get_recordings(request: Request) -> RecordingService:
    state = request.app.state
    return recording_service(state.settings, state.db, state.clock)


RecordingsDep = Annotated[RecordingService, Depends(get_recordings)]


class RecordingOut(BaseModel):
    id: int
    linkedid: str
    kind: str  # call | complaint | report | director | consult
    queue: str | None
    started_at: datetime
    available: bool  # the file is there (a call nobody answered has none)
    bytes: int
    seconds: float
    audio_url: str
    playable: bool  # this user may listen to it (and the file is there)

    @classmethod
    def of(cls, info: RecordingInfo, may_listen: bool) -> RecordingOut:
        return cls(id=info.id, linkedid=info.linkedid, kind=info.kind, queue=info.queue,
                   started_at=info.started_at, available=info.available, bytes=info.bytes,
                   seconds=info.seconds, audio_url=f"/api/v1/recordings/{info.id}/audio",
                   playable=may_listen and info.available)


@router.get("/contacts/{contact_id}/recordings", response_model=list[RecordingOut],
            responses=problems(403, 404))
async def contact_recordings(contact_id: Id, user: CurrentUser, contacts: ContactServiceDep,
                             recordings: RecordingsDep) -> list[RecordingOut]:
    """The recordings of a contact: the agent call, voice messages (oldest first)."""
    contact = await asyncio.to_thread(contacts.get, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    if not recordings.may_list(user, contact):
        raise RecordingRefused("只能查看本人接听过的来电记录")
    may_listen = recordings.may_listen(user, contact)
    return [RecordingOut.of(i, may_listen) for i in
            await asyncio.to_thread(recordings.of_contact, contact.linkedid)]


@router.get("/recordings/{recording_id}/audio", response_class=StreamingResponse,
            responses={200: {"content": {AUDIO_TYPE: {}},
                             "description": "the recording (WAV, 8 kHz 16-bit mono)"},
                       **problems(403, 404)})
async def recording_audio(recording_id: Id, user: CurrentUser, contacts: ContactServiceDep,
                          recordings: RecordingsDep) -> StreamingResponse:
    """The audio of one recording, streamed; the playback is written to the audit log."""
    info, file = await asyncio.to_thread(recordings.open_for, recording_id, user, contacts)
    return StreamingResponse(chunks(file), media_type=AUDIO_TYPE, headers={
        "Content-Length": str(info.bytes), "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="recording-{info.id}.wav"'})
