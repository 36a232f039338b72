"""Dynamic read-back in Mandarin from rendered fragments (``say/*`` in the catalogue).

Amounts, dates and times are written out (``¥123.45``, ``2026年12月3日``, ``9:30``) and read by
the one spoken-text normaliser (``spoken.speakable``), digits and counts by its readers
(``numbers.py``); the reading becomes a list of fragment prompt ids, one per character, which
the channel plays in turn: ``say_amount(12345)`` -> 一百二十三元四角五分 -> ``say/d1, ...``.
"""

from __future__ import annotations

from datetime import date, datetime, time

from ivr.prompts import numbers
from ivr.prompts.spoken import speakable

# character -> fragment id; the catalogue renders each fragment from the character itself
FRAGMENTS: dict[str, str] = {
    "零": "say/d0", "一": "say/d1", "幺": "say/yao", "二": "say/d2", "三": "say/d3",
    "四": "say/d4", "五": "say/d5", "六": "say/d6", "七": "say/d7", "八": "say/d8",
    "九": "say/d9", "两": "say/liang", "十": "say/shi", "百": "say/bai", "千": "say/qian",
    "万": "say/wan", "亿": "say/yi_hundred_million", "点": "say/dian", "负": "say/fu",
    "元": "say/yuan", "角": "say/jiao", "分": "say/fen", "年": "say/nian", "月": "say/yue",
    "日": "say/ri", "时": "say/shi_hour", "整": "say/zheng",
}


class NotSayable(ValueError):
    """The text holds a character without a fragment."""


def fragments(reading: str) -> list[str]:
    out: list[str] = []
    for char in reading:
        if char not in FRAGMENTS:
            raise NotSayable(f"no fragment for {char!r} in {reading!r}")
        out.append(FRAGMENTS[char])
    return out


def say_digits(text: str) -> list[str]:
    """Digit by digit (codes, numbers): 1 is read 幺."""
    if not text.isdigit():
        raise NotSayable(f"not digits: {text!r}")
    return fragments(numbers.digits(text))


def say_integer(n: int) -> list[str]:
    return fragments(numbers.integer(n))


def say_amount(fen: int) -> list[str]:
    """An amount of money: 12345 fen -> 一百二十三元四角五分; whole yuan end with 整."""
    yuan, cents = divmod(abs(fen), 100)
    reading = ("负" if fen < 0 else "") + speakable(f"¥{yuan}.{cents:02d}")
    if fen % 100 == 0:
        reading += "整"
    return fragments(reading)


def say_date(day: date) -> list[str]:
    """2026年12月3日: the year digit by digit, month and day as quantities."""
    return fragments(speakable(f"{day.year}年{day.month}月{day.day}日"))


def say_time(moment: time) -> list[str]:
    """9:30 -> 九点三十分; 14:00 -> 十四点整 (24-hour reading, as the hotline uses)."""
    reading = speakable(f"{moment.hour}:{moment.minute:02d}")
    return fragments(reading if moment.minute else reading + "整")


def say_datetime(moment: datetime) -> list[str]:
    return say_date(moment.date()) + say_time(moment.time())


def say_period(period: str) -> list[str]:
    """A tax period ``YYYY-MM`` -> 二零二六年十月."""
    year, _, month = period.partition("-")
    if not (len(year) == 4 and year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
        raise NotSayable(f"not a period: {period!r}")
    return fragments(speakable(f"{year}年{int(month)}月"))


def catalogue_entries() -> dict[str, str]:
    """The fragments as catalogue entries (id -> text to render)."""
    return {prompt: char for char, prompt in FRAGMENTS.items()}
