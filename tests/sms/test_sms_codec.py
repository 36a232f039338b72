"""SMS parsing and segmenting: pure functions, no gateway."""

from __future__ import annotations

import pytest

from callcenter.sms.codec import (
    FAKESMSC_LINE_MAX,
    AirMessage,
    decode_mo,
    fakesmsc_mo_line,
    parse_fakesmsc_line,
    reassemble,
    segments,
)
from callcenter.sms.parsing import (
    ConfirmReply,
    Help,
    InvoiceMalformed,
    InvoiceQuery,
    OptOut,
    Question,
    amount_fen,
    parse,
)


@pytest.mark.parametrize(("length", "expected"), [
    (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_ucs2_segments_70_single_67_a_part(length: int, expected: int) -> None:
    assert segments("税" * length) == expected


def test_a_character_outside_the_bmp_takes_two_units() -> None:
    assert segments("税" * 69 + "😀") == 2  # 71 UTF-16 units


@pytest.mark.parametrize(("text", "intent"), [
    ("发票 26442000000012345678 1130", InvoiceQuery("", "26442000000012345678", 113000)),
    ("发票26442000000012345678，1130.5元", InvoiceQuery("", "26442000000012345678", 113050)),
    ("ＦＰ　０４４００１９００１１１　１２３４５６７８　５６.７", InvoiceQuery(
        "044001900111", "12345678", 5670)),
    ("发票 044001900111 12345678 99.99", InvoiceQuery("044001900111", "12345678", 9999)),
    ("TD", OptOut()), ("td", OptOut()), (" 退订 ", OptOut()), ("ＴＤ", OptOut()),
    ("1", ConfirmReply(1)), ("２", ConfirmReply(2)),
    ("个税汇算什么时候开始", Question("个税汇算什么时候开始")),
    ("", Help("empty")), ("   ", Help("empty")), ("帮助", Help("help")),
    ("hello", Help("unrecognised")), ("12345", Help("unrecognised")),
    ("\ufffd\ufffd", Help("empty")), ("FPGA开发板", Question("FPGA开发板")),
])
def test_every_text_has_an_intent(text: str, intent: object) -> None:
    assert parse(text) == intent


@pytest.mark.parametrize("text", [
    "发票", "发票 123 1130", "发票 26442000000012345678", "发票 26442000000012345678 十元",
    "发票 26442000000012345678 0", "发票 0440019001 1234567 10", "发票 1 2 3 4"])
def test_a_malformed_invoice_text_gets_the_format_help(text: str) -> None:
    assert isinstance(parse(text), InvoiceMalformed)


def test_amounts() -> None:
    assert amount_fen("1130") == 113000
    assert amount_fen("0.01") == 1
    assert amount_fen("1.234") is None
    assert amount_fen("-5") is None


def test_mo_text_decodes_ucs2_and_utf8_and_never_raises() -> None:
    text = "个税汇算什么时候开始"
    assert decode_mo(text.encode("utf-16-be"), "2", "UTF-16BE") == text
    assert decode_mo(text.encode("utf-8"), "0", "UTF-8") == text
    assert decode_mo(b"\xff\xfe\xfd", "0", "") == "\xff\xfe\xfd"  # latin-1 at worst
    assert decode_mo(b"\xd8\x00", "2", "") == "\ufffd"  # a lone surrogate


def test_fakesmsc_lines_round_trip_through_kannels_url_decoding() -> None:
    line = fakesmsc_mo_line("13800138000", "12366", "个税 100%+税")
    sender, receiver, kind, data = line.split(" ", 3)
    assert (sender, receiver, kind) == ("13800138000", "12366", "ucs2")
    assert " " not in data
    assert "+" not in data.replace("%2B", "")
    import urllib.parse

    assert urllib.parse.unquote_to_bytes(data).decode("utf-16-be") == "个税 100%+税"
    with pytest.raises(ValueError, match="too long"):
        fakesmsc_mo_line("13800138000", "12366", "税" * 80)
    with pytest.raises(ValueError, match="not a phone number"):
        fakesmsc_mo_line("1380 0138000", "12366", "x")
    assert len(fakesmsc_mo_line("13800138000", "12366", "税" * 40)) < FAKESMSC_LINE_MAX


def test_parts_of_a_concatenated_message_are_joined_in_order() -> None:
    def part(ref: int, total: int, n: int, text: str) -> str:
        import urllib.parse

        udh = urllib.parse.quote(bytes([5, 0, 3, ref, total, n]), safe="")
        data = urllib.parse.quote(text.encode("utf-16-be"), safe="")
        return f"12366 13800138000 udh {udh} data {data}"

    lines = [part(7, 2, 2, "乙"), "12366 13800138000 ucs-2 " + "%4E%19", part(7, 2, 1, "甲")]
    messages = [m for m in (parse_fakesmsc_line(x) for x in lines) if m is not None]
    assert messages[0].concat == (7, 2, 2)
    done, waiting = reassemble(messages)
    assert [(r.text, r.segments) for r in done] == [("甲乙", 2), ("\u4e19", 1)]
    assert waiting == []
    done, waiting = reassemble(messages[:2])
    assert [r.text for r in done] == ["\u4e19"]
    assert len(waiting) == 1


def test_unknown_lines_are_not_messages() -> None:
    assert parse_fakesmsc_line("fakesmsc starting") is None
    assert parse_fakesmsc_line("a b weird x") is None
    assert AirMessage("1", "2", "x").concat is None


def test_kannels_plus_is_a_space_octet() -> None:
    # “ is U+201C: octets 0x20 0x1C, which Kannel's URL encoding writes "+%1C"
    message = parse_fakesmsc_line("12366 13800138000 ucs-2 +%1C%8B%F7+%1D")
    assert message is not None
    assert message.text == "“请”"
