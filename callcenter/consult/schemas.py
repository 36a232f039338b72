"""What the consultation endpoints take and answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=32, description="A mainland mobile number (+86 optional)")


class CodeOut(BaseModel):
    phone: str = Field(description="The number, masked (138****8000)")
    expires_at: datetime
    resend_after_s: int = Field(description="Seconds before another code may be asked for")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=32)
    code: str = Field(max_length=16, description="The 6 digits of the text")


class SessionOut(BaseModel):
    phone: str = Field(description="The verified number, masked")
    expires_at: datetime


class SuggestionOut(BaseModel):
    id: str
    question: str
    answer: str


class SuggestOut(BaseModel):
    decision: str = Field(description="answer | confirm | decline, or none (too short)")
    suggestions: list[SuggestionOut]


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=8000, description="The question (the limit in Chinese "
                          "characters is HOTLINE_CONSULT_QUESTION_MAX_CHARS)")


class ReplyOut(BaseModel):
    at: datetime
    text: str
    sms_status: str = Field(description="The reply text's delivery: queued | smsc | "
                            "delivered | failed | held | suppressed")


class ConsultationOut(BaseModel):
    ticket_no: str
    question: str
    status: str = Field(description="open | in_progress | answered | closed")
    created_at: datetime
    due_at: datetime
    due_text: str = Field(description="The reply deadline in Chinese (我们将在…前答复)")
    replies: list[ReplyOut]


class StaffReplyOut(ReplyOut):
    by: str


class StaffConsultationOut(ConsultationOut):
    phone: str
    channel: str = Field(description="web | sms")
    owner: str | None
    replies: list[StaffReplyOut]  # type: ignore[assignment]


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=4000)
