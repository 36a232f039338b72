"""Mandarin readers of numbers: digit by digit, as a quantity, as a decimal, as a sum of money.

Texts are read by ``ivr.prompts.spoken.speakable``, which uses these readers where a number's
context says how it is read (12366 -> 幺二三六六, 第10条 -> 第十条).
"""

from __future__ import annotations

_DIGITS = "零一二三四五六七八九"
_UNITS = ["", "十", "百", "千"]
_BIG = ["", "万", "亿", "万亿"]


def digits(text: str) -> str:
    """Read digit by digit, as phone numbers and codes are read (1 is read 幺)."""
    return "".join("幺" if ch == "1" else _DIGITS[int(ch)] if ch.isdigit() else ch
                   for ch in text)


def _four(n: int) -> str:
    out = ""
    zero = False
    for pos in range(3, -1, -1):
        d = (n // 10**pos) % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[d] + _UNITS[pos]
    return out


def integer(n: int) -> str:
    """Read an integer as a quantity: 12366 -> 一万二千三百六十六."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + integer(-n)
    groups: list[int] = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out = ""
    need_zero = False
    for idx in range(len(groups) - 1, -1, -1):
        g = groups[idx]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _four(g) + _BIG[idx]
        need_zero = False
    if out.startswith("一十"):
        out = out[1:]
    return out


def decimal(text: str) -> str:
    """Read ``12.5`` as 十二点五."""
    whole, _, frac = text.partition(".")
    out = integer(int(whole or "0"))
    if frac:
        out += "点" + "".join(_DIGITS[int(c)] for c in frac)
    return out


def amount(yuan: float) -> str:
    """Read a money amount: 1234.5 -> 一千二百三十四元五角."""
    fen = round(yuan * 100)
    if fen < 0:
        return "负" + amount(-yuan)  # divmod of a negative would floor the yuan
    y, rest = divmod(fen, 100)
    jiao, f = divmod(rest, 10)
    out = integer(y) + "元"
    if jiao:
        out += _DIGITS[jiao] + "角"
    if f:
        out += ("零" if not jiao else "") + _DIGITS[f] + "分"
    return out
