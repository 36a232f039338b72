"""``/api/v1/sms/kannel/mo`` and ``/api/v1/sms/kannel/dlr``: smsbox's calls to us (its get-url
with each text to 12366, and the dlr-url of each text we send). smsbox cannot log in: these
two routes need the gateway key (``HOTLINE_SMS_GATEWAY_KEY``) instead, which the generated
Kannel configuration carries; they are reached on loopback only."""

from __future__ import annotations

import hmac
import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from callcenter.edge import DB_INT_MAX
from callcenter.openapi import problems
from callcenter.settings import SMS_DEFAULT_SECRETS, Settings
from callcenter.sms.codec import decode_mo
from callcenter.sms.schemas import ReportRecorded, SentText, TextReceived
from callcenter.sms.services import SmsService, sms_service_for

router = APIRouter(prefix="/sms/kannel", tags=["sms"])
NUMBER = r"^\+?[0-9]{3,20}$"
MAX_TEXT_BYTES = 4096


def _settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    if not isinstance(settings, Settings):
        raise HTTPException(status_code=503, detail="短信服务尚未就绪")
    return settings


def gateway_key(request: Request,
                key: Annotated[str, Query(max_length=128,
                                          description="The gateway key (HOTLINE_SMS_GATEWAY_KEY)")]
                ) -> None:
    """smsbox's calls carry the gateway key; a shipped default key works only outside
    production."""
    settings = _settings(request)
    if settings.env == "production" and any(
            getattr(settings, name) == default for name, default in SMS_DEFAULT_SECRETS.items()):
        raise HTTPException(status_code=503,
                            detail="短信网关密钥仍为默认值，生产环境不可用")
    if not hmac.compare_digest(key.encode(), settings.sms_gateway_key.encode()):
        raise HTTPException(status_code=403, detail="短信网关密钥错误")


def sms_of(state: Any, settings: Settings) -> SmsService:
    """The app's SMS service (built at first use, on the app's shared services; it follows the
    app's current knowledge base and ticket desk)."""
    service = getattr(state, "sms", None)
    if not isinstance(service, SmsService):
        service = sms_service_for(state.db, state.clock, settings,
                                  getattr(state, "knowledge_base", None),
                                  getattr(state, "tickets", None))
        state.sms = service
    service.kb = getattr(state, "knowledge_base", None)
    service.tickets = getattr(state, "tickets", None)
    service.notifier = getattr(state, "notifier", None)
    return service


def get_sms(request: Request) -> SmsService:
    """The app's SMS service."""
    return sms_of(request.app.state, _settings(request))


Key = Depends(gateway_key)


@router.get("/mo", response_model=TextReceived, dependencies=[Key],
            summary="A text to 12366 (smsbox get-url)", responses=problems(403, 503))
async def mobile_originated(
    request: Request,
    sms: Annotated[SmsService, Depends(get_sms)],
    sender: Annotated[str, Query(alias="from", pattern=NUMBER, description="The phone (%p)")],
    to: Annotated[str, Query(pattern=NUMBER, description="The service number (%P)")],
    text: Annotated[str, Query(max_length=3 * MAX_TEXT_BYTES,
                               description="The text's octets, URL-encoded (%b)")] = "",
    coding: Annotated[str, Query(pattern=r"^[0-2]?$",
                                 description="Data coding (%c): 0 7-bit, 1 8-bit, 2 UCS-2")] = "",
    charset: Annotated[str, Query(max_length=32, description="Charset (%C)")] = "",
    smsc: Annotated[str, Query(max_length=64, description="The SMSC it came from (%i)")] = "",
) -> TextReceived:
    # the octets as sent: UCS-2 is no UTF-8, so the text is read from the raw query string
    raw = b""
    for name, value in urllib.parse.parse_qsl(request.scope.get("query_string", b"")
                                              .decode("latin-1"), keep_blank_values=True,
                                              encoding="latin-1"):
        if name == "text":
            raw = value.encode("latin-1")
    if len(raw) > MAX_TEXT_BYTES:
        raise HTTPException(status_code=422, detail="短信内容过长")
    mo, replies = await sms.receive(sender, decode_mo(raw, coding, charset))
    return TextReceived(id=mo.id, linkedid=mo.linkedid,
                        replies=[SentText(id=r.id, segments=r.segments, status=r.status)
                                 for r in replies])


@router.get("/dlr", response_model=ReportRecorded, dependencies=[Key],
            summary="A delivery report of a text we sent (smsbox dlr-url)",
            responses=problems(403, 404, 503))
def delivery_report(
    sms: Annotated[SmsService, Depends(get_sms)],
    message_id: Annotated[int, Query(alias="id", ge=1, le=DB_INT_MAX,
                                     description="Our id of the text")],
    dlr_type: Annotated[int, Query(alias="type", ge=0, le=255,
                                   description="Kannel's report type (%d): 1 delivered, "
                                   "2 failed, 4 buffered, 8 SMSC accepted, 16 SMSC rejected")],
    reply: Annotated[str, Query(max_length=256, description="The SMSC's answer (%A)")] = "",
) -> ReportRecorded:
    if not sms.record_dlr(message_id, dlr_type, reply):
        raise HTTPException(status_code=404, detail="没有这条短信")
    return ReportRecorded(recorded=True)
