"""What a text to 12366 asks for: one of a few commands, or a free-text question.

Parsing is pure and total: every text gets an :class:`Intent`, and a text that is neither a
command nor a question is :class:`Help` (the reply is the short help text, never silence).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

OPT_OUT_WORDS = frozenset({"TD", "退订", "取消订阅", "退订提醒"})
HELP_WORDS = frozenset({"帮助", "HELP", "?", "？", "菜单", "0"})
SURVEY_WORDS = {"3": 3, "满意": 1, "非常满意": 1, "基本满意": 2, "不满意": 3}
INVOICE_PREFIXES = ("发票查验", "查发票", "发票", "FP")
TAXPAYER_PREFIXES = ("纳税人查询", "综合查询", "查询", "CX")
_TIN = re.compile(r"^[0-9A-Z]{15,20}$")
# separators people type between the fields of a command
_SEPARATORS = re.compile(r"[\s,，;；#*＃、:：/]+")
_AMOUNT = re.compile(r"^(\d{1,12})(?:\.(\d{1,2}))?元?$")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Question:
    text: str


@dataclass(frozen=True)
class InvoiceQuery:
    code: str          # "" for a fully digitalised e-invoice (数电发票: 20-digit number)
    number: str
    amount_fen: int    # 价税合计, in fen


@dataclass(frozen=True)
class InvoiceMalformed:
    """Started like an invoice check but the fields are not right: the format help."""

    reason: str


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class ConfirmReply:
    choice: int        # 1: yes, the offered question; 2: not that one


@dataclass(frozen=True)
class TaxpayerQuery:
    """The taxpayer's filing status: answered only to the mobile registered for ``tin``."""

    tin: str


@dataclass(frozen=True)
class TaxpayerMalformed:
    reason: str


@dataclass(frozen=True)
class BookingRequest:
    """预约 (the halls), 预约 H (hall H's free slots), 预约 H K (book the K-th slot offered)."""

    hall: int | None = None
    choice: int | None = None


@dataclass(frozen=True)
class BookingCancel:
    confirmation_no: str | None  # None: which bookings the number has


@dataclass(frozen=True)
class Subscribe:
    """订阅 (the topics) or 订阅 <topic word or number>."""

    word: str | None


@dataclass(frozen=True)
class SurveyReply:
    """3, or a rating in words: an answer to the satisfaction survey (a 1 or 2 is a
    :class:`ConfirmReply`, which the service reads as a rating when a survey is the open
    question)."""

    score: int


@dataclass(frozen=True)
class Help:
    reason: str


Intent = (Question | InvoiceQuery | InvoiceMalformed | TaxpayerQuery | TaxpayerMalformed
          | BookingRequest | BookingCancel | Subscribe | OptOut | ConfirmReply | SurveyReply
          | Help)


def normalise(text: str) -> str:
    """Full-width letters and digits to ASCII, runs of white space to one space, trimmed."""
    text = unicodedata.normalize("NFKC", text).replace("\ufffd", " ")
    return " ".join(text.split())


def amount_fen(raw: str) -> int | None:
    """``1130``, ``1130.5``, ``1130.50`` or ``1130元`` in fen; None when not an amount."""
    match = _AMOUNT.match(raw)
    if not match:
        return None
    try:
        value = Decimal(f"{match.group(1)}.{match.group(2) or '0'}")
    except InvalidOperation:
        return None
    fen = int(value * 100)
    return fen if fen > 0 else None


def parse_invoice(body: str) -> InvoiceQuery | InvoiceMalformed:
    fields = [f for f in _SEPARATORS.split(body) if f]
    if len(fields) == 2:
        number, amount = fields
        code = ""
        if not (number.isdigit() and len(number) == 20):
            return InvoiceMalformed("数电发票号码应为20位数字")
    elif len(fields) == 3:
        code, number, amount = fields
        if not (code.isdigit() and len(code) in (10, 12)):
            return InvoiceMalformed("发票代码应为10位或12位数字")
        if not (number.isdigit() and len(number) == 8):
            return InvoiceMalformed("发票号码应为8位数字")
    else:
        return InvoiceMalformed("缺少发票号码或金额")
    fen = amount_fen(amount)
    if fen is None:
        return InvoiceMalformed("金额应为数字，如1130或1130.00")
    return InvoiceQuery(code=code, number=number, amount_fen=fen)


def parse_booking(upper: str) -> BookingRequest | BookingCancel | None:
    """A booking command, or None (预约 followed by words is a question)."""
    for prefix, cancel in (("取消预约", True), ("预约", False), ("取消", True)):
        if not upper.startswith(prefix):
            continue
        fields = [f for f in _SEPARATORS.split(upper[len(prefix):]) if f]
        if not all(f.isascii() and f.isdigit() for f in fields):
            return None
        if cancel:
            if len(fields) > 1 or (prefix == "取消" and not fields):
                return None
            return BookingCancel(fields[0] if fields else None)
        if len(fields) > 2:
            return None
        numbers = [int(f[:6]) for f in fields]
        return BookingRequest(*numbers)
    return None


def parse(text: str) -> Intent:
    """The intent of one mobile-originated text."""
    clean = normalise(text)
    upper = clean.upper()
    if not clean:
        return Help("empty")
    if upper in OPT_OUT_WORDS:
        return OptOut()
    if upper in HELP_WORDS:
        return Help("help")
    if clean in ("1", "2"):
        return ConfirmReply(int(clean))
    if clean.rstrip("。.!！") in SURVEY_WORDS:
        return SurveyReply(SURVEY_WORDS[clean.rstrip("。.!！")])
    for prefix in INVOICE_PREFIXES:
        if upper.startswith(prefix):
            rest = clean[len(prefix):]
            if prefix == "FP" and rest[:1].isalpha():
                break  # a word that starts with FP, not the command
            return parse_invoice(rest)
    if upper.startswith("订阅"):
        word = "".join(f for f in _SEPARATORS.split(upper[2:]) if f).removesuffix("提醒")
        if len(word) <= 5:
            return Subscribe(word or None)
    booking = parse_booking(upper)
    if booking is not None:
        return booking
    for prefix in TAXPAYER_PREFIXES:
        if upper.startswith(prefix):
            rest = "".join(f for f in _SEPARATORS.split(upper[len(prefix):]) if f)
            if rest.isascii() and rest.isalnum():
                # 查询 + letters and digits only: a TIN (a question after 查询 is a question)
                return TaxpayerQuery(rest) if _TIN.match(rest) else TaxpayerMalformed(
                    "纳税人识别号应为15至20位数字或字母")
            if prefix == "CX" or rest:
                break
            return TaxpayerMalformed("缺少纳税人识别号")
    if len(_CJK.findall(clean)) >= 2:
        return Question(clean)
    return Help("unrecognised")
