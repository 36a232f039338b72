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
    Playback,
    PromptFailed,
    PromptResult,
    PromptStatus,
)
from ivr.ami.client import AmiConnectionLost
from tests.unit.fake_ami import Clients, FakeAmi, agi_exec, event, eventually

CALLER = "PJSIP/caller-00000001"
OTHER = "PJSIP/caller-00000002"


@pytest.fixture
async def agi(clients: Clients) -> AsyncAgi:
    return AsyncAgi(await clients.ready(), command_timeout=10)


def channel(agi: AsyncAgi, name: str = CALLER) -> AgiChannel:
    return AgiChannel(agi, name, "1700000000.1", "1700000000.1",
                      {"agi_callerid": "13800138000"})


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


@pytest.mark.parametrize(("lines", "max_digits", "commands", "expected"), [
    # one key: the prompt, then WAIT FOR DIGIT (which, unlike GET DATA, returns "#")
    (["200 result=0 endpos=800", "200 result=50"], 1,
     ["STREAM FILE enter-id", "WAIT FOR DIGIT 3000"], ("2", False)),
    (["200 result=0 endpos=800", "200 result=35"], 1,
     ["STREAM FILE enter-id", "WAIT FOR DIGIT 3000"], ("#", False)),
    (["200 result=0 endpos=800", "200 result=0"], 1,
     ["STREAM FILE enter-id", "WAIT FOR DIGIT 3000"], ("", True)),
    (["200 result=51 endpos=80"], 1, ["STREAM FILE enter-id"], ("3", False)),
    # several: GET DATA without a prompt, for what the prompt's key did not give
    (["200 result=0 endpos=800", "200 result=123"], 3,
     ["STREAM FILE enter-id", 'GET DATA "" 3000 3'], ("123", False)),
    (["200 result=0 endpos=800", "200 result= (timeout)"], 3,
     ["STREAM FILE enter-id", 'GET DATA "" 3000 3'], ("", True)),
    (["200 result=49 endpos=80", "200 result=23 (timeout)"], 3,
     ["STREAM FILE enter-id", 'GET DATA "" 3000 2'], ("123", True)),
    (["200 result=35 endpos=80"], 3, ["STREAM FILE enter-id"], ("", False)),  # "#": empty
])
async def test_collect_digits(server: FakeAmi, agi: AsyncAgi, lines: list[str],
                              max_digits: int, commands: list[str],
                              expected: tuple[str, bool]) -> None:
    answers = iter(lines)
    server.agi_result = lambda _channel, _command: next(answers)
    played: list[Playback] = []
    collected = await channel(agi).collect_digits("enter-id", timeout_ms=3000,
                                                  max_digits=max_digits,
                                                  on_played=played.append)
    assert (collected.digits, collected.timed_out) == expected
    assert [a["Command"] for a in server.named("AGI")] == [
        f'{c} "0123456789*#"' if c.startswith("STREAM") else c for c in commands]
    assert played == [collected.playback]
    assert collected.playback.results[0].prompt == "enter-id"


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


@pytest.mark.parametrize("end", [
    event("Hangup", Channel=CALLER, Uniqueid="1700000000.1", Cause="16",
          **{"Cause-txt": "Normal Clearing"}),
    event("AsyncAGIEnd", Channel=CALLER, Uniqueid="1700000000.1"),
], ids=["Hangup", "AsyncAGIEnd"])
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
