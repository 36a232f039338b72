"""Text on the air: UCS-2 segments, the MO text that smsbox hands us, and the lines of Kannel's
simulated SMSC (``fakesmsc``).

Chinese texts travel as UCS-2 (data coding 2): 140 octets a message, 70 characters; a longer
text is a concatenated message whose parts carry a 6-octet UDH (IEI 0x00: reference, total,
number), which leaves 134 octets, 67 characters, a part. Kannel splits and concatenates itself
(``coding=2`` and ``concatenation``/``max-messages`` of the sendsms user); :func:`segments` is
the same rule, for what we record and test against.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

UCS2_SINGLE = 70     # characters in one UCS-2 message
UCS2_PART = 67       # characters in each part of a concatenated UCS-2 message
GSM_SINGLE = 160
GSM_PART = 153
# fakesmsc reads its input lines with fgets into a 256-byte buffer
FAKESMSC_LINE_MAX = 255


def ucs2_units(text: str) -> int:
    """UTF-16 code units: a character outside the BMP (an emoji) takes two."""
    return len(text.encode("utf-16-be")) // 2


def segments(text: str) -> int:
    """How many messages the phone receives for ``text`` sent as UCS-2 (at least one)."""
    units = ucs2_units(text)
    if units <= UCS2_SINGLE:
        return 1
    return -(-units // UCS2_PART)


def decode_mo(data: bytes, coding: str, charset: str = "") -> str:
    """The text of a mobile-originated message as smsbox passes it (``%b``: the raw octets,
    ``%c``: the data coding, ``%C``: the charset). Never raises: undecodable octets become
    U+FFFD, and the reply to them is the help text."""
    named = charset.upper().replace("-", "").replace("_", "")
    if coding.strip() == "2" or named in ("UTF16BE", "UCS2"):
        return data.decode("utf-16-be", errors="replace")
    if named in ("ISO88591", "LATIN1", "WINDOWS1252"):
        return data.decode("latin-1")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def minimal_urlencode(data: bytes) -> str:
    """URL-encode only what Kannel's decoder needs encoded (``%``, ``+``, space, controls and
    non-ASCII): shorter lines than a full encoding, for fakesmsc's 255-byte input lines."""
    out: list[str] = []
    for byte in data:
        if 0x21 <= byte <= 0x7E and byte not in (0x25, 0x2B):
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def fakesmsc_mo_line(sender: str, receiver: str, text: str) -> str:
    """One input line of fakesmsc that makes the simulated SMSC deliver ``text`` from
    ``sender`` to ``receiver`` as a UCS-2 message (no newline)."""
    for number in (sender, receiver):
        if not number or not all(c.isdigit() or c == "+" for c in number):
            raise ValueError(f"not a phone number: {number!r}")
    line = f"{sender} {receiver} ucs2 {minimal_urlencode(text.encode('utf-16-be'))}"
    if len(line.encode()) + 1 > FAKESMSC_LINE_MAX:
        raise ValueError(f"the text is too long for fakesmsc's input line "
                         f"({len(line.encode()) + 1} > {FAKESMSC_LINE_MAX} bytes)")
    return line


@dataclass(frozen=True)
class AirMessage:
    """One message as the simulated SMSC handed it to the phone (one segment)."""

    sender: str
    receiver: str
    text: str
    udh: bytes = b""

    @property
    def concat(self) -> tuple[int, int, int] | None:
        """(reference, total, number) of a part of a concatenated message, else None."""
        udh = self.udh
        i = 1
        while i + 1 < len(udh):
            iei, length = udh[i], udh[i + 1]
            body = udh[i + 2:i + 2 + length]
            if iei == 0x00 and length == 3:
                return body[0], body[1], body[2]
            if iei == 0x08 and length == 4:
                return (body[0] << 8) | body[1], body[2], body[3]
            i += 2 + length
        return None


def _url_octets(data: str) -> bytes:
    """Kannel's URL encoding: ``+`` is a space, ``%XX`` an octet."""
    return urllib.parse.unquote_to_bytes(data.replace("+", " "))


def parse_fakesmsc_line(line: str) -> AirMessage | None:
    """A message line that fakesmsc prints when the SMSC delivers to the phone, e.g.
    ``12366 13800138000 udh %05%00%03%01%02%01 data N*...`` (None: not such a line).
    UDH parts and ``ucs-2`` lines are UCS-2 (we send everything with ``coding=2``)."""
    fields = line.split(" ", 3)
    if len(fields) < 4:
        return None
    sender, receiver, kind, rest = fields
    if kind == "udh":
        udh_enc, _, data = rest.partition(" data ")
        raw = _url_octets(data)
        return AirMessage(sender, receiver, raw.decode("utf-16-be", errors="replace"),
                          _url_octets(udh_enc))
    if kind == "ucs-2":
        raw = _url_octets(rest)
        return AirMessage(sender, receiver, raw.decode("utf-16-be", errors="replace"))
    if kind == "data":
        return AirMessage(sender, receiver,
                          _url_octets(rest).decode("utf-8", "replace"))
    if kind == "text":
        return AirMessage(sender, receiver, rest)
    return None


@dataclass(frozen=True)
class Received:
    """A text as the phone shows it: its parts joined, and how many segments it took."""

    sender: str
    text: str
    segments: int
    part_lengths: tuple[int, ...] = ()   # UTF-16 units of each segment, in order


def reassemble(parts: list[AirMessage]) -> tuple[list[Received], list[AirMessage]]:
    """Join the parts of concatenated messages (in arrival order of their first part);
    returns the complete texts and the parts still waiting for the rest."""
    done: list[Received] = []
    pending: dict[tuple[str, int, int], dict[int, AirMessage]] = {}
    order: list[tuple[str, int, int] | int] = []
    singles: dict[int, AirMessage] = {}
    for index, part in enumerate(parts):
        concat = part.concat
        if concat is None:
            singles[index] = part
            order.append(index)
            continue
        key = (part.sender, concat[0], concat[1])
        if key not in pending:
            pending[key] = {}
            order.append(key)
        pending[key][concat[2]] = part
    waiting: list[AirMessage] = []
    for item in order:
        if isinstance(item, int):
            single = singles[item]
            done.append(Received(single.sender, single.text, 1, (ucs2_units(single.text),)))
            continue
        got = pending[item]
        total = item[2]
        if len(got) == total and all(n in got for n in range(1, total + 1)):
            ordered = [got[n].text for n in range(1, total + 1)]
            done.append(Received(item[0], "".join(ordered), total,
                                 tuple(ucs2_units(t) for t in ordered)))
        else:
            waiting.extend(got.values())
    return done, waiting
