"""What the SMS endpoints answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SentText(BaseModel):
    id: int = Field(description="Our id of the text sent (the delivery reports name it)")
    segments: int = Field(description="Messages the phone receives for it (UCS-2: 70 "
                          "characters in one, 67 a part of a longer one)")
    status: str = Field(description="queued | smsc | buffered | delivered | failed, or held "
                        "(over a sending limit, sent later) | suppressed (a reply storm, cut)")


class TextReceived(BaseModel):
    id: int = Field(description="Our id of the text received")
    linkedid: str = Field(description="The contact it was logged as (medium sms)")
    replies: list[SentText]


class ReportRecorded(BaseModel):
    recorded: bool
