"""Mandarin number reading, the prompt catalogue, and incremental rendering to 8 kHz WAV."""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import pytest

from callcenter.settings import PROJECT_ROOT
from ivr.menu.loader import load_menu
from ivr.prompts import numbers
from ivr.prompts.catalogue import (
    SILENCE_ID,
    CatalogueError,
    _fingerprint,
    load_catalogue,
    render,
)
from ivr.prompts.spoken import speakable

MENU_FILE = PROJECT_ROOT / "ivr" / "menus" / "12366.yaml"
SOUNDS = PROJECT_ROOT / "sounds" / "zh"


def wav_format(path: Path) -> tuple[int, int, int, int]:
    """(frame rate, channels, sample width in bytes, frames)."""
    with wave.open(str(path), "rb") as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes()


def assert_telephone_wav(path: Path) -> None:
    assert path.is_file(), f"{path} is missing"
    rate, channels, width, frames = wav_format(path)
    assert (rate, channels, width) == (8000, 1, 2), f"{path}: {rate} Hz, {channels} ch, {width} B"
    assert frames > 0, f"{path} is empty"


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "spoken"),
    [
        (0, "零"),
        (7, "七"),
        (10, "十"),
        (11, "十一"),
        (20, "二十"),
        (105, "一百零五"),
        (110, "一百一十"),
        (1005, "一千零五"),
        (1010, "一千零一十"),
        (10010, "一万零一十"),
        (12366, "一万二千三百六十六"),
        (100000, "十万"),
        (100001, "十万零一"),
        (110000, "十一万"),
        (1001000, "一百万一千"),
        (100000000, "一亿"),
        (100010000, "一亿零一万"),
        (100100000, "一亿零一十万"),
        (-5, "负五"),
    ],
)
def test_integer(n: int, spoken: str) -> None:
    assert numbers.integer(n) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [("13", "十三"), ("1.5", "一点五"), ("0.5", "零点五"), ("10.05", "十点零五"),
     ("105.25", "一百零五点二五")],
)
def test_decimal(text: str, spoken: str) -> None:
    assert numbers.decimal(text) == spoken


@pytest.mark.parametrize(
    ("yuan", "spoken"),
    [
        (0, "零元"),
        (10, "十元"),
        (100000, "十万元"),
        (1234.5, "一千二百三十四元五角"),
        (2.35, "二元三角五分"),
        (1.05, "一元零五分"),
        (10.01, "十元零一分"),
        (100.1, "一百元一角"),
        (-1.5, "负一元五角"),
    ],
)
def test_amount(yuan: float, spoken: str) -> None:
    assert numbers.amount(yuan) == spoken


def test_digits() -> None:
    assert numbers.digits("12366") == "幺二三六六"
    assert numbers.digits("0") == "零"
    assert numbers.digits("010-86") == "零幺零-八六"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("13%", "百分之十三"),
        ("1.5%", "百分之一点五"),
        ("2026年1月1日", "二零二六年一月一日"),
        ("10万元", "十万元"),
        ("0", "零"),
        ("第3季度", "第三季度"),
        ("12366", "幺二三六六"),  # the hotline's number, not a quantity
        ("13800138000", "幺三八，零零幺三，八零零零"),  # a mobile number, 3-4-4
        ("应纳税额12345.67元", "应纳税额一万二千三百四十五点六七元"),
        ("税率为13%，自2026年1月1日起", "税率为百分之十三，自二零二六年一月一日起"),
        ("感谢您的来电，再见。", "感谢您的来电，再见。"),
    ],
)
def test_speakable(text: str, spoken: str) -> None:
    assert speakable(text) == spoken


# -- the catalogue and the shipped sounds ---------------------------------------------------


def test_every_menu_prompt_is_in_the_catalogue_and_rendered() -> None:
    catalogue = load_catalogue()
    used = load_menu(MENU_FILE).prompts()
    assert used, "the shipped menu plays no prompts?"
    assert used <= catalogue.keys(), f"not in the catalogue: {sorted(used - catalogue.keys())}"
    for prompt_id in sorted(used):
        assert_telephone_wav(SOUNDS / f"{prompt_id}.wav")


def test_shipped_sounds_are_current() -> None:
    catalogue = load_catalogue()
    manifest = json.loads((SOUNDS / "manifest.json").read_text(encoding="utf-8"))
    stale = sorted(pid for pid, text in catalogue.items()
                   if manifest.get(pid) != _fingerprint(text))
    assert stale == [], f"re-render with `hotline prompts render`: {stale}"
    for prompt_id in catalogue:
        assert_telephone_wav(SOUNDS / f"{prompt_id}.wav")
    assert_telephone_wav(SOUNDS / f"{SILENCE_ID}.wav")


def test_audio_is_keyed_on_what_is_spoken() -> None:
    """Texts spoken alike share their audio; a change in the reading renders it again."""
    from ivr.prompts.answers import answer_key

    assert _fingerprint("请拨打12366") == _fingerprint("请拨打幺二三六六")
    assert _fingerprint("请拨打12366") != _fingerprint("请拨打一二三六六")
    assert answer_key("税率为13%。") == answer_key("税率为百分之十三。")
    assert answer_key("税率为13%。") != answer_key("税率为9%。")


def test_load_catalogue_accepts_nested_ids_and_strips_text(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text('faq/vat_2026: "  增值税法。 "\nwelcome: 您好\n', encoding="utf-8")
    assert load_catalogue(path) == {"faq/vat_2026": "增值税法。", "welcome": "您好"}


@pytest.mark.parametrize(
    "text",
    ["Welcome: hi\n", "bad-id: hi\n", "_lead: hi\n", "a//b: hi\n", "a/: hi\n", "12: hi\n",
     "a b: hi\n", "queue-: hi\n", "queue_x-y: hi\n", "say/queue-x: hi\n"],
)
def test_load_catalogue_rejects_bad_ids(tmp_path: Path, text: str) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match="must match"):
        load_catalogue(path)


@pytest.mark.parametrize("text", ["welcome:\n", 'welcome: ""\n', 'welcome: "   "\n',
                                  "welcome: 5\n", "welcome: [a]\n"])
def test_load_catalogue_rejects_empty_texts(tmp_path: Path, text: str) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match="'welcome' has no text"):
        load_catalogue(path)


@pytest.mark.parametrize("text", ["", "- welcome\n", "hello\n"])
def test_load_catalogue_rejects_a_non_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match="expected a mapping"):
        load_catalogue(path)


# -- rendering ------------------------------------------------------------------------------


def require_espeak() -> None:
    """Skip without espeak-ng, except in CI, where its absence is a failure."""
    if shutil.which("espeak-ng") is None:
        reason = "espeak-ng is not installed (apt-get install espeak-ng): prompt rendering untested"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it", pytrace=False)
        pytest.skip(reason)


def test_render_is_incremental(tmp_path: Path) -> None:
    require_espeak()
    out = tmp_path / "zh"
    prompts = {"welcome": "您好。", "faq/rate": "税率为13%。", "goodbye": "再见。"}

    first = render(prompts, out)
    assert sorted(first.rendered) == sorted(prompts)
    assert (first.unchanged, first.removed) == ([], [])
    for prompt_id in prompts:
        assert_telephone_wav(out / f"{prompt_id}.wav")
    assert_telephone_wav(out / f"{SILENCE_ID}.wav")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest) == sorted(prompts)
    before = {pid: (out / f"{pid}.wav").read_bytes() for pid in prompts}

    again = render(prompts, out)
    assert again.rendered == []
    assert sorted(again.unchanged) == sorted(prompts)
    assert again.removed == []

    changed = {**prompts, "faq/rate": "税率为9%。"}
    third = render(changed, out)
    assert third.rendered == ["faq/rate"]
    assert sorted(third.unchanged) == ["goodbye", "welcome"]
    assert (out / "faq/rate.wav").read_bytes() != before["faq/rate"]
    assert (out / "welcome.wav").read_bytes() == before["welcome"]
    new_manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert new_manifest["faq/rate"] != manifest["faq/rate"]
    assert new_manifest["welcome"] == manifest["welcome"]

    dropped = {k: v for k, v in changed.items() if k != "goodbye"}
    fourth = render(dropped, out)
    assert fourth.removed == ["goodbye"]
    assert fourth.rendered == []
    assert not (out / "goodbye.wav").exists()
    assert "goodbye" not in json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (out / f"{SILENCE_ID}.wav").exists()  # not a catalogue prompt: never removed
    assert not list(out.rglob("*.tmp.wav"))


def test_render_replaces_a_missing_file_and_force_renders_all(tmp_path: Path) -> None:
    require_espeak()
    prompts = {"welcome": "您好。", "goodbye": "再见。"}
    render(prompts, tmp_path)
    (tmp_path / "welcome.wav").unlink()

    report = render(prompts, tmp_path)
    assert report.rendered == ["welcome"]
    assert report.unchanged == ["goodbye"]
    assert_telephone_wav(tmp_path / "welcome.wav")

    forced = render(prompts, tmp_path, force=True)
    assert sorted(forced.rendered) == ["goodbye", "welcome"]
    assert forced.unchanged == []


# -- Asterisk's own sounds in Mandarin (queues) ----------------------------------------------

# the sounds app_queue plays to callers (and reporthold to agents): the defaults of Asterisk 22's
# apps/app_queue.c (init_queue: sound_next, sound_thereare, ..., the periodic announcement)
APP_QUEUE_SOUNDS = (
    "queue-youarenext", "queue-thereare", "queue-callswaiting", "queue-quantity1",
    "queue-quantity2", "queue-holdtime", "queue-minutes", "queue-minute", "queue-seconds",
    "queue-thankyou", "queue-reporthold", "queue-periodic-announce", "queue-less-than",
)


def say_number_zh(num: int) -> list[str]:
    """The files Asterisk 22 plays for ``num`` in language zh: main/say.c
    ast_say_number_full_zh, line by line (``last_length - strlen(buf)`` is unsigned in C)."""
    if num == 0:
        return ["digits/0"]  # ast_say_digits_full
    files: list[str] = []
    play_h = play_t = play_z = False
    last_length = 0

    def zero_first(buf: str) -> bool:
        return (last_length - len(buf)) % 2 ** 64 > 1 and last_length != 0

    while num or play_h or play_t or play_z:
        if num < 0:
            fn = "digits/minus"
            num = -num
        elif play_z:
            fn, last_length, play_z = "digits/0", 0, False
        elif play_h:
            fn, play_h = "digits/hundred", False
        elif play_t:
            fn, play_t = "digits/thousand", False
        elif num < 10:
            if zero_first(str(num)):
                last_length, play_z = len(str(num)), True
                continue
            fn, num = f"digits/{num}", 0
        elif num < 100:
            if zero_first(str(num)):
                last_length, play_z = len(str(num)), True
                continue
            last_length = len(str(num))
            fn, num = f"digits/{num // 10 * 10}", num % 10
        elif num < 1000:
            if zero_first(str(num)):
                last_length, play_z = len(str(num)), True
                continue
            fn, play_h, last_length = f"digits/{num // 100}", True, len(str(num))
            num -= num // 100 * 100
        elif num < 10000:
            fn, play_t, last_length = f"digits/{num // 1000}", True, len(str(num))
            num -= num // 1000 * 1000
        elif num < 100_000_000:
            files += say_number_zh(num // 10000)
            last_length = len(str(num))
            fn, num = "digits/wan", num - num // 10000 * 10000
        else:
            files += say_number_zh(num // 100_000_000)
            last_length = len(str(num))
            fn, num = "digits/yi", num - num // 100_000_000 * 100_000_000
        files.append(fn)
    return files


def test_queue_sounds_and_the_zh_numbers_are_in_the_catalogue_and_rendered() -> None:
    catalogue = load_catalogue()
    needed = set(APP_QUEUE_SOUNDS)
    for n in [*range(0, 2000), 10005, 123456, -5, 250_000_000]:
        needed |= set(say_number_zh(n))
    assert needed - catalogue.keys() == set()
    for sound in sorted(needed):
        assert_telephone_wav(SOUNDS / f"{sound}.wav")
    # what a waiting caller hears, put together from the files as Asterisk plays them
    spoken = "".join(catalogue[f] for f in
                     ["queue-thereare", *say_number_zh(3), "queue-callswaiting",
                      "queue-holdtime", *say_number_zh(2), "queue-minutes",
                      *say_number_zh(30), "queue-seconds", "queue-thankyou"])
    assert spoken == "您现在排在第三位。预计等待时间约为二分钟三十秒感谢您的耐心等待。"
    assert "".join(catalogue[f] for f in say_number_zh(105)) == "一百零五"
    assert "".join(catalogue[f] for f in say_number_zh(12366)) == "一万二千三百六十六"


@pytest.mark.parametrize("prompt_id", ["queue-youarenext", "queue-less-than", "queue-quantity1",
                                       "digits/10", "digits/hundred"])
def test_load_catalogue_accepts_asterisks_sound_names(tmp_path: Path, prompt_id: str) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(f"{prompt_id}: 十\n", encoding="utf-8")
    assert load_catalogue(path) == {prompt_id: "十"}
