"""AsyncAGI over the fake AMI: result parsing, CommandId matching, hangups."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from ivr.agi import (
    AgiChannel,
    AgiError,
    AgiResult,
    AsyncAgi,
    ChannelHungUp,
    KeyBuffer,
    Playback,
    PromptFailed,
    PromptResult,
    PromptStatus,
)
from ivr.ami.client import AmiConnectionLost
from tests.unit.fake_ami import Clients, FakeAmi, agi_exec, dtmf, event, eventually

CALLER = "PJSIP/caller-00000001"
OTHER = "PJSIP/caller-00000002"


@pytest.fixture
async def agi(clients: Clients) -> AsyncAgi:
    return AsyncAgi(await clients.ready(), command_timeout=10)


def channel(agi: AsyncAgi, name: str = CALLER) -> AgiChannel:
    return AgiChannel(agi, name, "1700000000.1", "1700000000.1",
                      {"agi_callerid": "13800138000"})


# how Asterisk says the caller's channel left the menu
CHANNEL_ENDS = [
    event("Hangup", Channel=CALLER, Uniqueid="1700000000.1", Cause="16",
          **{"Cause-txt": "Normal Clearing"}),
    event("AsyncAGIEnd", Channel=CALLER, Uniqueid="1700000000.1"),
]


def command_ids(server: FakeAmi) -> dict[str, str]:
    """Channel -> CommandID of the AGI actions the server got."""
    return {a["Channel"]: a["CommandID"] for a in server.named("AGI")}


# -- AgiResult.parse -------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "code", "result", "data", "extra"), [
    ("200 result=49 endpos=1234", 200, "49", "", {"endpos": "1234"}),
    ("200 result= (timeout)", 200, "", "timeout", {}),
    ("200 result=123 (timeout)", 200, "123", "timeout", {}),
    ("200 result=-1", 200, "-1", "", {}),
    ("200 result=1 (some value) endpos=7\n", 200, "1", "some value", {"endpos": "7"}),
    ("511 Command Not Permitted on a dead channel", 511, "",
     "Command Not Permitted on a dead channel", {}),
    ("510 Invalid or unknown command", 510, "", "Invalid or unknown command", {}),
])
def test_agi_result_parse(line: str, code: int, result: str, data: str,
                          extra: Mapping[str, str]) -> None:
    parsed = AgiResult.parse(line)
    assert (parsed.code, parsed.result, parsed.data) == (code, result, data)
    assert dict(parsed.extra) == extra


@pytest.mark.parametrize(("line", "ok", "hung_up"), [
    ("200 result=49 endpos=1234", True, False),
    ("200 result=0", True, False),
    ("200 result=-1", False, True),
    ("511 Command Not Permitted on a dead channel", False, True),
    ("510 Invalid or unknown command", False, False),
])
def test_agi_result_status(line: str, ok: bool, hung_up: bool) -> None:
    parsed = AgiResult.parse(line)
    assert (parsed.ok, parsed.hung_up) == (ok, hung_up)


@pytest.mark.parametrize("line", ["", "HANGUP", "result=1", "OK 200", "2x0 result=1"])
def test_agi_result_garbage_raises(line: str) -> None:
    with pytest.raises(AgiError):
        AgiResult.parse(line)


# -- AgiChannel over the fake AMI ------------------------------------------------------------


PLAYED, INTERRUPTED, FAILED, HUNG_UP, NOT_SENT = (
    PromptStatus.PLAYED, PromptStatus.INTERRUPTED, PromptStatus.FAILED, PromptStatus.HUNG_UP,
    PromptStatus.NOT_SENT)


async def test_play_reports_the_key_that_stopped_it(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "200 result=49 endpos=1234"
    playback = await channel(agi).play(["welcome"])
    assert playback.results == (PromptResult("welcome", INTERRUPTED, "1", 1234),)
    assert playback.key == "1"
    [sent] = server.named("AGI")
    assert sent["Channel"] == CALLER
    assert sent["Command"] == 'STREAM FILE welcome "0123456789*#"'
    assert agi.pending == 0


async def test_play_without_a_key_plays_everything(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "200 result=0 endpos=8000"
    playback = await channel(agi).play(["welcome", "menu"], escape_digits="12")
    assert playback.results == (PromptResult("welcome", PLAYED, endpos=8000),
                                PromptResult("menu", PLAYED, endpos=8000))
    assert playback.key is None
    assert playback.unheard == []
    playback.check(CALLER)  # nothing to stop on
    assert [a["Command"] for a in server.named("AGI")] == [
        'STREAM FILE welcome "12"', 'STREAM FILE menu "12"',
    ]


async def test_a_key_stops_the_remaining_prompts(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, command: (
        "200 result=35 endpos=10" if "second" in command else "200 result=0 endpos=10"
    )
    playback = await channel(agi).play(["first", "second", "third"])
    assert playback.key == "#"
    assert [(r.prompt, r.status) for r in playback.results] == [
        ("first", PLAYED), ("second", INTERRUPTED), ("third", NOT_SENT)]
    assert [r.prompt for r in playback.heard] == ["first", "second"]
    assert len(server.named("AGI")) == 2


async def test_a_prompt_asterisk_cannot_play_is_failed_not_played(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    # what Asterisk 22 answers STREAM FILE on a missing file; it then ends the AsyncAGI
    server.agi_result = lambda _channel, command: (
        "200 result=-1 endpos=0" if "missing" in command else "200 result=0 endpos=10")
    playback = await channel(agi).play(["first", "missing", "third"])
    assert [(r.prompt, r.status) for r in playback.results] == [
        ("first", PLAYED), ("missing", FAILED), ("third", NOT_SENT)]
    assert playback.stopped == PromptResult("missing", FAILED, endpos=0)
    with pytest.raises(PromptFailed, match="missing"):
        playback.check(CALLER)
    with pytest.raises(ChannelHungUp):  # the AGI session is over
        await channel(agi).execute("ANSWER")


async def test_a_hangup_during_a_prompt_reports_how_far_it_got(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    server.agi_result = lambda _channel, _command: "200 result=-1 endpos=11360"
    playback = await channel(agi).play(["welcome", "menu"])
    assert playback.results == (PromptResult("welcome", HUNG_UP, endpos=11360),
                                PromptResult("menu", NOT_SENT))
    with pytest.raises(ChannelHungUp):
        playback.check(CALLER)


@pytest.mark.parametrize(("prompt", "after", "max_digits", "expected", "left"), [
    # one key: the prompt, then keys pressed after it ("#" is a key of its own)
    ("200 result=0 endpos=800", "2", 1, ("2", False), ""),
    ("200 result=0 endpos=800", "#", 1, ("#", False), ""),
    ("200 result=0 endpos=800", "", 1, ("", True), ""),
    ("200 result=51 endpos=80", "", 1, ("3", False), ""),   # 3 stopped the prompt
    ("200 result=0 endpos=800", "25", 1, ("2", False), "5"),  # 5: the next input's
    # several: "#" ends an entry and is not part of it
    ("200 result=0 endpos=800", "123", 3, ("123", False), ""),
    ("200 result=0 endpos=800", "", 3, ("", True), ""),
    ("200 result=49 endpos=80", "2", 3, ("12", True), ""),
    ("200 result=35 endpos=80", "", 3, ("", False), ""),     # "#" first: an empty entry
    ("200 result=0 endpos=800", "12#", 3, ("12", False), ""),
    ("200 result=0 endpos=800", "1234", 3, ("123", False), "4"),
    # "#" after an entry complete by its length ends that entry: not the next input's
    ("200 result=0 endpos=800", "123#", 3, ("123", False), ""),
    ("200 result=0 endpos=800", "1234#", 3, ("123", False), "4#"),
])
async def test_collect_digits(server: FakeAmi, agi: AsyncAgi, prompt: str, after: str,
                              max_digits: int, expected: tuple[str, bool], left: str) -> None:
    server.agi_result = lambda _channel, _command: prompt
    played: list[Playback] = []

    def prompt_ended(playback: Playback) -> None:
        played.append(playback)
        for key in after:  # pressed after the prompt, while nothing runs in Asterisk
            server.push(dtmf(CALLER, key))

    call = channel(agi)
    collected = await call.collect_digits("enter-id", timeout_ms=300, max_digits=max_digits,
                                          on_played=prompt_ended)
    assert (collected.digits, collected.timed_out) == expected
    # the keys come from the DTMF events: no AGI command waits for them
    assert [a["Command"] for a in server.named("AGI")] == [
        'STREAM FILE enter-id "0123456789*#"']
    assert played == [collected.playback]
    assert collected.playback.results[0].prompt == "enter-id"
    await asyncio.sleep(0.05)
    assert call.keys.pending == left
    assert agi.dtmf_events


async def test_collect_digits_waits_for_no_key_after_a_failed_prompt(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    server.agi_result = lambda _channel, _command: "200 result=-1 endpos=0"
    played: list[Playback] = []
    collected = await channel(agi).collect_digits("missing", max_digits=4,
                                                  on_played=played.append)
    assert (collected.digits, collected.timed_out) == ("", False)
    assert played[0].stopped == PromptResult("missing", FAILED, endpos=0)
    assert len(server.named("AGI")) == 1


async def test_result_data_is_decoded_once(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "200 result=1 (50%41 off)"
    result = await channel(agi).execute("GET VARIABLE DISCOUNT")
    assert result.data == "50%41 off"


async def test_failed_result_on_a_dead_channel_raises(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "511 Command Not Permitted on a dead channel"
    with pytest.raises(ChannelHungUp):
        await channel(agi).execute("ANSWER")
    # known gone: refused without asking Asterisk; a playback reports it
    playback = await channel(agi).play(["welcome"])
    assert playback.results == (PromptResult("welcome", HUNG_UP),)
    assert len(server.named("AGI")) == 1


@pytest.mark.parametrize("end", CHANNEL_ENDS, ids=["Hangup", "AsyncAGIEnd"])
async def test_end_of_channel_fails_its_pending_command(
    server: FakeAmi, agi: AsyncAgi, end: bytes,
) -> None:
    caller = asyncio.create_task(channel(agi).play(["long-prompt"]))
    other = asyncio.create_task(channel(agi, OTHER).play(["long-prompt"]))
    await eventually(lambda: len(server.named("AGI")) == 2, what="both AGI commands")

    server.push(end)
    assert (await caller).results == (PromptResult("long-prompt", HUNG_UP),)
    assert not other.done()  # another channel's command is untouched

    server.push(agi_exec(OTHER, command_ids(server)[OTHER], "200 result=50 endpos=1"))
    assert (await other).key == "2"
    with pytest.raises(ChannelHungUp):
        await channel(agi).execute("ANSWER")
    assert len(server.named("AGI")) == 2
    assert agi.pending == 0


async def test_results_are_matched_on_command_id_out_of_order(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    first = asyncio.create_task(channel(agi, CALLER).execute("WAIT FOR DIGIT 5000"))
    second = asyncio.create_task(channel(agi, OTHER).execute("WAIT FOR DIGIT 5000"))
    await eventually(lambda: len(server.named("AGI")) == 2, what="both AGI commands")
    ids = command_ids(server)
    assert ids[CALLER] != ids[OTHER]

    server.push(agi_exec(OTHER, ids[OTHER], "200 result=50"))
    server.push(agi_exec(CALLER, "agi-not-ours-1", "200 result=51"))  # someone else's
    server.push(agi_exec(CALLER, ids[CALLER], "200 result=49"))
    results = await asyncio.gather(first, second)
    assert [r.result for r in results] == ["49", "50"]
    assert agi.pending == 0


async def test_pending_command_fails_when_the_connection_drops(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    pending = asyncio.create_task(channel(agi).execute("WAIT FOR DIGIT 5000"))
    await eventually(lambda: agi.pending == 1 and len(server.named("AGI")) == 1,
                     what="the AGI command")
    server.drop_connections()
    with pytest.raises(AmiConnectionLost):
        await pending
    assert agi.pending == 0


# -- type-ahead: the caller's keys from DTMF events --------------------------------------------


TYPED_AHEAD = PromptStatus.TYPED_AHEAD


async def test_a_hash_after_an_entry_complete_by_its_length_stops_no_read_back(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    """Told to end the invoice code with #, a caller presses # after its 12th digit (the
    entry was complete at 12): the # ends the entry. It does not stop the read-back that
    follows (its STREAM FILE does not list #) and is not the confirmation's key."""
    server.agi_result = lambda _channel, _command: "200 result=0 endpos=800"
    call = channel(agi)
    for key in "123":
        server.push(dtmf(CALLER, key))
    await eventually(lambda: call.keys.pending == "123", what="the keys in the buffer")
    collected = await call.collect_digits("enter-code", timeout_ms=300, max_digits=3)
    assert collected.digits == "123"

    def read_back(_channel: str, command: str) -> str:
        if "you_entered" in command:
            server.push(dtmf(CALLER, "#"))
        return "200 result=0 endpos=800"

    server.agi_result = read_back
    playback = await call.play(["you_entered", "digit_1"])
    assert [r.status for r in playback.results] == [PLAYED, PLAYED]
    assert [a["Command"] for a in server.named("AGI")] == [
        'STREAM FILE you_entered "0123456789*"', 'STREAM FILE digit_1 "0123456789*"']
    await asyncio.sleep(0.05)
    assert call.keys.pending == ""
    confirm = await call.collect_digits("confirm", timeout_ms=300)
    assert (confirm.digits, confirm.timed_out) == ("", True)


async def test_only_a_hash_soon_and_first_ends_the_entry_before_it() -> None:
    keys = KeyBuffer()
    keys.expect_terminator()
    assert keys.press("1")          # another key first: the caller has moved on
    assert keys.press("#")
    assert keys.pending == "1#"
    later = KeyBuffer()
    later.expect_terminator(within=0.02)
    await asyncio.sleep(0.05)
    assert not later.terminator_expected
    assert later.press("#")         # too late to be the entry's: a key of its own
    assert later.pending == "#"


async def test_keys_during_a_prompt_without_barge_in_are_kept_for_the_next_input(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    def responder(_channel: str, command: str) -> str:
        if "notice" in command:  # Asterisk drops the keys: only the DTMF events tell
            server.push(dtmf(CALLER, "1") + dtmf(CALLER, "2"))
        return "200 result=0 endpos=16000"

    server.agi_result = responder
    call = channel(agi)
    playback = await call.play(["notice"], escape_digits="")
    assert playback.results == (PromptResult("notice", PLAYED, endpos=16000, kept="12"),)
    assert playback.kept == "12"
    assert playback.key is None
    collected = await call.collect_digits("menu", timeout_ms=300)
    # typed ahead: the menu prompt is not played, its first key is the 1
    assert collected.playback.results == (PromptResult("menu", TYPED_AHEAD, "1"),)
    assert collected.playback.key == "1"
    assert [r.prompt for r in collected.playback.unheard] == ["menu"]
    assert (collected.digits, collected.timed_out) == ("1", False)
    assert call.keys.pending == "2"
    assert [a["Command"] for a in server.named("AGI")] == ['STREAM FILE notice ""']


async def test_keys_pressed_between_commands_stop_the_next_prompt_before_it_starts(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    server.agi_result = lambda _channel, _command: "200 result=0 endpos=800"
    call = channel(agi)
    server.push(dtmf(CALLER, "7"))
    await eventually(lambda: call.keys.pending == "7", what="the key in the buffer")
    playback = await call.play(["menu", "more"])
    assert playback.results == (PromptResult("menu", TYPED_AHEAD, "7"),
                                PromptResult("more", NOT_SENT))
    assert server.named("AGI") == []
    # the key stays for the input that takes it
    assert call.take_key() == "7"
    assert call.take_key() is None


async def test_a_key_the_command_and_its_event_both_report_counts_once(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    server.agi_result = lambda _channel, _command: "200 result=49 endpos=1234"  # 1
    call = channel(agi)
    playback = await call.play(["menu"])
    assert playback.key == "1"
    await asyncio.sleep(0.05)
    assert call.keys.pending == "1"
    assert call.keys.received == 1
    assert agi.dtmf_events


async def test_a_key_whose_event_comes_after_the_result_counts_once(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    server.key_events = "after"
    server.agi_result = lambda _channel, _command: "200 result=50 endpos=1234"  # 2
    call = channel(agi)
    playback = await call.play(["menu"])
    assert playback.key == "2"
    assert call.keys.pending == "2"  # waited for its event
    await asyncio.sleep(0.05)
    assert call.keys.pending == "2"
    assert agi.dtmf_events


async def test_without_dtmf_events_keys_come_from_results_and_asterisk_waits(
    server: FakeAmi, agi: AsyncAgi, caplog: pytest.LogCaptureFixture,
) -> None:
    # an AMI user without the dtmf class: a key a command reports never comes as an event
    server.key_events = "none"
    agi.event_wait = 0.1
    answers = iter(["200 result=49 endpos=80", "200 result=51"])
    server.agi_result = lambda _channel, _command: next(answers)
    call = channel(agi)
    first = await call.collect_digits("menu", timeout_ms=300)
    assert first.digits == "1"
    assert not agi.dtmf_events
    assert "dtmf class" in caplog.text
    # waits go to Asterisk now
    assert await call.next_key(300) == "3"
    assert [a["Command"] for a in server.named("AGI")] == [
        'STREAM FILE menu "0123456789*#"', "WAIT FOR DIGIT 300"]
    # the 1's event, late after all, is not a second key; events arriving turn type-ahead on
    assert call.keys.press("1") is False
    server.push(dtmf(CALLER, "9"))
    await eventually(lambda: agi.dtmf_events, what="DTMF events back")
    assert call.keys.pending == "9"


async def test_only_keys_the_callers_channel_received_count(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    call = channel(agi)
    server.push(dtmf(CALLER, "5", direction="Sent") + dtmf(OTHER, "6")
                + dtmf("PJSIP/agent1-00000003", "7") + dtmf(CALLER, "8"))
    await eventually(lambda: call.keys.received == 1, what="the caller's key")
    await asyncio.sleep(0.05)
    assert call.keys.pending == "8"


async def test_a_new_session_starts_with_no_keys(server: FakeAmi, agi: AsyncAgi) -> None:
    first = channel(agi)
    server.push(dtmf(CALLER, "1"))
    await eventually(lambda: first.keys.pending == "1", what="the key")
    second = channel(agi)  # the call is back in the menu (after an agent)
    assert second.keys.pending == ""
    with pytest.raises(ChannelHungUp):
        await first.keys.wait(1)


@pytest.mark.parametrize("end", CHANNEL_ENDS, ids=["Hangup", "AsyncAGIEnd"])
async def test_the_end_of_the_channel_ends_a_wait_for_keys(
    server: FakeAmi, agi: AsyncAgi, end: bytes,
) -> None:
    call = channel(agi)
    waiting = asyncio.create_task(call.next_key(5000))
    await asyncio.sleep(0.05)
    server.push(end)
    with pytest.raises(ChannelHungUp):
        await asyncio.wait_for(waiting, 2)
    assert call.keys.press("1") is False  # closed: later events are not the menu's


async def test_a_lost_connection_ends_a_wait_for_keys(server: FakeAmi, agi: AsyncAgi) -> None:
    call = channel(agi)
    waiting = asyncio.create_task(call.next_key(5000))
    await asyncio.sleep(0.05)
    server.drop_connections()
    with pytest.raises(AmiConnectionLost):
        await asyncio.wait_for(waiting, 2)
    # the buffer still serves the call once the session resumes
    assert call.keys.press("4") is True
    assert await call.next_key(100) == "4"


async def test_a_key_typed_ahead_ends_a_recording_before_it_starts(
    server: FakeAmi, agi: AsyncAgi,
) -> None:
    server.agi_result = lambda _channel, _command: "200 result=0 endpos=2400"
    call = channel(agi)
    server.push(dtmf(CALLER, "1") + dtmf(CALLER, "#"))
    await eventually(lambda: call.keys.pending == "1#", what="the keys")
    # "1" is no escape key of the recording: it stays; "#" ends it before it starts
    assert await call.record("/tmp/msg", escape_digits="#", beep=True) == "#"
    assert [a["Command"] for a in server.named("AGI")] == ['STREAM FILE beep ""']
    assert call.keys.pending == "1"


async def test_a_key_that_ends_a_recording_is_taken_once(server: FakeAmi, agi: AsyncAgi
                                                         ) -> None:
    server.agi_result = lambda _channel, _command: "200 result=35 (dtmf) endpos=16000"
    call = channel(agi)
    assert await call.record("/tmp/msg", escape_digits="#") == "#"
    await asyncio.sleep(0.05)
    assert call.keys.pending == ""
