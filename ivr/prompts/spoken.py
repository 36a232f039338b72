"""Spoken-text normalisation (TN): a Chinese text as the hotline reads it aloud.

``speakable()`` is the one function every voice output goes through: catalogue prompts and FAQ
answers (``tts.synthesize``), read-backs (``readback``), and anything else we say. Its rules run
in order, each one rewriting the numbers of one context into words, so that no number is read
twice (docs/decisions/0004-text-normalisation.md says why these are our own rules and not a TN
library's):

- codes read digit by digit in groups: TINs, ID, invoice numbers and codes, phone numbers;
  hotline and service numbers (12366 -> 幺二三六六, but 12366元 is a sum and 12366次 a count);
- years, dates, ranges (read with 至), times, months and days, ordinals;
- per-cent and per-mille, sums written with ¥ (in 元角分), thousands separators, decimals,
  fractions, prices per unit, signs and measures;
- 两 before a classifier (两个, 两万元), every other number as a quantity;
- Latin abbreviations spelt letter by letter (APP -> ``A P P``: espeak-ng says spaced capitals
  as letter names).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ivr.prompts.numbers import decimal, digits, integer

GROUP_PAUSE = "，"  # between the groups of a number read digit by digit: a short pause

# -- width -----------------------------------------------------------------------------------

_WIDTH = str.maketrans(
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
    "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ％＋－～／＜＞＝",
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz%+-~/<>=",
)


def _half_width(text: str) -> str:
    """Full-width digits, Latin letters and number signs as ASCII (punctuation is kept)."""
    text = text.translate(_WIDTH)
    # ：and ． only between digits (8：30, 1．5): elsewhere they are Chinese punctuation
    return re.sub(r"(?<=\d)([：．])(?=\d)", lambda m: ":" if m.group(1) == "：" else ".", text)


# -- readers ---------------------------------------------------------------------------------

_LETTER = re.compile(r"[A-Za-z]")


def _spell(chars: str) -> str:
    """Digits one by one (1 is 幺), letters as capitals, consecutive letters apart."""
    out = ""
    for ch in chars:
        if _LETTER.match(ch):
            if out and _LETTER.match(out[-1]):
                out += " "
            out += ch.upper()
        else:
            out += digits(ch)
    return out


def _in_groups(chars: str, sizes: tuple[int, ...] | None = None) -> str:
    """Read a code in groups (a short pause between them): by ``sizes``, else in fours."""
    if sizes is None:
        sizes = (3, 4) if len(chars) == 7 else (4,) * ((len(chars) + 3) // 4)
    groups, start = [], 0
    for size in sizes:
        if start < len(chars):
            groups.append(chars[start:start + size])
            start += size
    if start < len(chars):
        groups.append(chars[start:])
    return GROUP_PAUSE.join(_spell(g) for g in groups)


def _quantity(n: int) -> str:
    """A count: a leading 2 before 百/千/万/亿 is 两 (两百, 两千, 两万), as it is said."""
    reading = integer(n)
    return re.sub(r"^二(?=[百千万亿])", "两", reading)


def _year(y: str) -> str:
    return "".join("零一二三四五六七八九"[int(c)] for c in y)


def _percent(value: str, sign: str) -> str:
    base = {"%": "百分之", "‰": "千分之", "‱": "万分之"}[sign]
    return base + decimal(value)


# -- context ---------------------------------------------------------------------------------

# what may follow a number that counts or measures something (then it is not a code)
_UNIT = (
    r"(?:万|亿|千|百|元|角|分|块|个|人(?!工)|户|家|名|位|件|次|天|日|月|年|周|季|岁|倍|条|款|项|种|类|"
    r"笔|张|份|本|台|辆|套|所|处|批|层|期|号|页|字|座|吨|米|克|公里|千克|公斤|平方|立方|升|度|"
    r"小时|分钟|秒|%|‰|‱|多|余|以上|以下|以内|左右|[A-Za-z])"
)
# the classifiers after which 2 is read 两
_LIANG = (
    r"(?:个|人(?!工)|户|家|名|位|件|次|天|年(?!级)|周|岁|倍|条|项|种|类|笔|张|份|本|台|辆|套|所|处|"
    r"批|层|页|座|吨|元|角|分|块|万|千|百|亿|小时|分钟|个月|季度|公里|千克|公斤|米|平方米)"
)
# words after which a number is dialled or keyed: read digit by digit
_DIAL = (r"(?:拨打|致电|拨通|拨|打|呼叫|电话|热线|客服|手机|座机|传真|联系|号码|代码|密码|"
         r"编号|编码|账号|单号|预约号|识别号|验证码|邮编|尾号|工号)")
_NUM = r"\d+(?:\.\d+)?"
# what a price is per
_PER = r"(?:吨|千克|公斤|平方米|立方米|米|升|月|年|天|人|户|次|件|辆|小时)"
_DASH = r"\s*[-~–—至到]\s*"


def _sub(pattern: str, repl: Callable[[re.Match[str]], str]) -> Callable[[str], str]:
    compiled = re.compile(pattern)
    return lambda text: compiled.sub(repl, text)


def _phone_plus(m: re.Match[str]) -> str:
    return "加" + _spell(m.group(1)) + GROUP_PAUSE


def _codes(m: re.Match[str]) -> str:
    return _in_groups(m.group(0))


def _separated(m: re.Match[str]) -> str:
    """A number written in groups (0931-8888888, 400-810-1234): read as its author grouped it."""
    return GROUP_PAUSE.join(_spell(g) for g in re.split(r"[-\s()（）]+", m.group(0)) if g)


def _dialled(m: re.Match[str]) -> str:
    number = m.group(2)
    if len(number) == 11 and number.startswith("1"):
        spoken = _in_groups(number, (3, 4, 4))
    elif len(number) >= 7:
        spoken = _in_groups(number)
    else:
        spoken = _spell(number)
    return m.group(1) + spoken


def _long_number(m: re.Match[str]) -> str:
    number = m.group(0)
    if len(number) == 11 and re.match(r"1[3-9]", number):
        return _in_groups(number, (3, 4, 4))
    if len(number) == 10 and number[:3] in ("400", "800"):
        return _in_groups(number, (3, 3, 4))
    return _in_groups(number)


def _date(m: re.Match[str]) -> str:
    year, month, day = m.group(1), int(m.group(3)), int(m.group(4))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return f"{_year(year)}年{integer(month)}月{integer(day)}日"


def _time(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    second = int(m.group(3)) if m.group(3) else 0
    if hour > 24 or minute > 59 or second > 59:
        return m.group(0)
    out = ("两" if hour == 2 else integer(hour)) + "点"
    if minute or second:
        out += ("零" if 0 < minute < 10 else "") + integer(minute) + "分"
    if second:
        out += ("零" if second < 10 else "") + integer(second) + "秒"
    return out


def _money_symbol(m: re.Match[str]) -> str:
    """¥12.30 -> 12元3角 (then read as counts): a sum with its symbol is read in 元角分."""
    yuan = m.group(1).replace(",", "")
    cents = (m.group(2) or "").ljust(2, "0")
    jiao, fen = int(cents[0]), int(cents[1])
    out = f"{int(yuan)}元"
    if jiao:
        out += f"{jiao}角"
    if fen:
        out += ("零" if not jiao else "") + f"{fen}分"
    return out


def _fraction(m: re.Match[str]) -> str:
    numerator, denominator = int(m.group(1)), int(m.group(2))
    if denominator == 0:
        return m.group(0)
    return f"{integer(denominator)}分之{integer(numerator)}"


def _letters(m: re.Match[str]) -> str:
    word = m.group(0)
    if (word.isupper() and 2 <= len(word) <= 6) or word.lower() in _ABBREVIATIONS:
        return _spell(word)
    return word


# lower- or mixed-case words that are abbreviations callers hear spelt
_ABBREVIATIONS = frozenset({"app", "id", "pdf", "qq", "etc", "vat"})

_OPERATORS = {"×": "乘", "*": "乘", "+": "加", "=": "等于", ":": "比"}
_SIGNS = {"≥": "大于等于", "≤": "小于等于", ">": "大于", "<": "小于", "±": "正负"}
_MEASURES = {"㎡": "平方米", "m²": "平方米", "㎞": "公里", "℃": "摄氏度", "kg": "千克",
             "km": "公里", "cm": "厘米", "mm": "毫米"}

_RULES: list[Callable[[str], str]] = [
    # codes: 18-character unified social credit codes and ID numbers, 15-20 character TINs
    _sub(r"(?<![0-9A-Za-z.,])(?=[0-9A-Z]{15,20}(?![0-9A-Za-z]))(?=(?:[A-Z]*\d){10})"
         r"[0-9A-Z]{15,20}", _codes),
    # phone numbers as written: +86, (0931)8888888, 0931-8888888, 400-810-1234, 138-0013-8000
    _sub(r"\+(86)[\s-]?(?=\d)", _phone_plus),
    _sub(r"[(（]0\d{2,3}[)）]\s*\d{7,8}(?!\d)", _separated),
    _sub(r"(?<![\d.,-])(?:0\d{2,3}-\d{7,8}|[48]00[-\s]\d{3}[-\s]\d{4}|1[3-9]\d[-\s]\d{4}[-\s]\d{4})"
         r"(?![\d-])", _separated),
    # dialled, keyed or quoted numbers: 拨打110, 查询密码123456, 发票号码12345678
    _sub(rf"({_DIAL}[是为：:\s]*)(\d{{3,}})(?![\d.,%‰]|\s*{_UNIT})", _dialled),
    # dates: 2026-01-01, 2026/1/15, 2026.01.01
    _sub(r"(?<![\d.])(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?![\d.])", _date),
    # hotline and service numbers: 12366, 12306, 95566, 10086 (unless a unit follows: a count)
    _sub(rf"(?<![\d.,¥￥$-])(?:1[0-2]\d{{3}}|9[56]\d{{3}})(?<!00)(?![\d.,:]|\s*{_UNIT})",
         lambda m: digits(m.group(0))),
    _sub(r"(?<![\d.,])(?:110|119|120|122)(?=报警|急救|火警|电话|热线)",
         lambda m: digits(m.group(0))),
    # long digit strings with no unit after them: invoice numbers, codes, mobile numbers
    _sub(rf"(?<![\d.,¥￥$-])\d{{7,}}(?![\d.,:]|\s*{_UNIT})", _long_number),
    # any other whole number of five digits or more counts something: 12366次
    _sub(r"(?<![\d.,])\d{5,}(?![\d.,])", lambda m: _quantity(int(m.group(0)))),
    # a range of years: 2020-2025年
    _sub(rf"(?<!\d)(\d{{4}}){_DASH}(\d{{4}})(?=年)",
         lambda m: f"{_year(m.group(1))}至{_year(m.group(2))}"),
    # years: 2026年, 〔2023〕
    _sub(r"(?<![\d.])(\d{4})(?=\s*年)", lambda m: _year(m.group(1))),
    _sub(r"(?<=[〔\[【(（])(\d{4})(?=[〕\]】)）])", lambda m: _year(m.group(1))),
    # ranges: 3-5% -> 3%至5%; 1-15日, 5~10个, 3月1日-6月30日, 8:30-17:00 -> 至
    _sub(rf"(?<![\d.])({_NUM}){_DASH}({_NUM})\s*([%‰‱])", lambda m:
         f"{m.group(1)}{m.group(3)}至{m.group(2)}{m.group(3)}"),
    _sub(r"(?<=[\d%‰‱日月年号点分秒元])\s*[-~–—]\s*(?=\d)", lambda m: "至"),
    # negative numbers: -5, −200元 (a minus sign not between numbers)
    _sub(r"(?<![\dA-Za-z%‰])[-−](?=\d)", lambda m: "负"),
    # times: 8:30 -> 八点三十分, 9:00 -> 九点, 23:59:59
    _sub(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])", _time),
    _sub(r"(?<![\d.])2(?=点)", lambda m: "两"),
    # months and days are named, not counted: 2月2日 -> 二月二日, 2号
    _sub(r"(?<![\d.])(\d{1,2})(?=\s*(?:月(?!份?[内以])|日|号))",
         lambda m: integer(int(m.group(1)))),
    # ordinals: 第1条, 第10条, 第2款
    _sub(r"第\s*(\d+)", lambda m: "第" + integer(int(m.group(1)))),
    # per-cent, per-mille, per-ten-thousand
    _sub(rf"({_NUM})\s*([%‰‱])", lambda m: _percent(m.group(1), m.group(2))),
    # money with its symbol, in 元角分: ¥12.30, ￥1,000
    _sub(r"[¥￥]\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?!\d)", _money_symbol),
    # thousands separators: 12,345.67 -> 12345.67
    _sub(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])", lambda m: m.group(0).replace(",", "")),
    # prices per unit: 12元/吨 -> 每吨12元
    _sub(rf"({_NUM})\s*(万元|元)/({_PER})", lambda m: f"每{m.group(3)}{m.group(1)}{m.group(2)}"),
    # decimals: 10.05 -> 十点零五
    _sub(r"(?<![\d.])\d+\.\d+(?![\d.])", lambda m: decimal(m.group(0))),
    # fractions: 1/3 -> 三分之一
    _sub(r"(?<![\d/.])(\d+)/(\d+)(?![\d/.])", _fraction),
    # 两 before a classifier: 2个, 2年, 2-3个, 2万元
    _sub(rf"(?<![\d.])2(?=\s*(?:至\s*\d+\s*)?{_LIANG})", lambda m: "两"),
    # signs and measures: 7×24, 1+1, 3:1, ≥300万元, 50㎡, 10kg
    _sub(r"(?<=\d)\s*([×*+=:])\s*(?=\d)", lambda m: _OPERATORS[m.group(1)]),
    _sub(r"([≥≤><±])\s*(?=负?\d)", lambda m: _SIGNS[m.group(1)]),
    _sub(r"(?<=\d)\s*(㎡|m²|㎞|℃|(?i:kg|km|cm|mm)(?![A-Za-z]))",
         lambda m: _MEASURES[m.group(1).lower()]),
    # every other number counts something: 3天, 300万元, 12366元
    _sub(r"\d+", lambda m: _quantity(int(m.group(0)))),
    # Latin abbreviations spelt: APP -> A P P, ETC -> E T C (single letters stay: A级)
    _sub(r"(?<![A-Za-z])[A-Za-z]+(?![A-Za-z])", _letters),
]


def speakable(text: str) -> str:
    """``text`` as it is read aloud: every number, sign and abbreviation in words.

    ``speakable("请拨打12366")`` -> ``请拨打幺二三六六``;
    ``speakable("营业收入的5‰")`` -> ``营业收入的千分之五``.
    """
    text = _half_width(text)
    for rule in _RULES:
        text = rule(text)
    return text
