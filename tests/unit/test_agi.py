"""AsyncAGI over the fake AMI: result parsing, CommandId matching, hangups."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from ivr.agi import AgiChannel, AgiError, AgiResult, AsyncAgi, ChannelHungUp
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


async def test_play_returns_the_pressed_key(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "200 result=49 endpos=1234"
    assert await channel(agi).play(["welcome"]) == "1"
    [sent] = server.named("AGI")
    assert sent["Channel"] == CALLER
    assert sent["Command"] == 'STREAM FILE welcome "0123456789*#"'
    assert agi.pending == 0


async def test_play_without_a_key_plays_everything(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "200 result=0 endpos=8000"
    assert await channel(agi).play(["welcome", "menu"], escape_digits="12") is None
    assert [a["Command"] for a in server.named("AGI")] == [
        'STREAM FILE welcome "12"', 'STREAM FILE menu "12"',
    ]


async def test_a_key_stops_the_remaining_prompts(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, command: (
        "200 result=35 endpos=10" if "second" in command else "200 result=0 endpos=10"
    )
    assert await channel(agi).play(["first", "second", "third"]) == "#"
    assert len(server.named("AGI")) == 2


@pytest.mark.parametrize(("line", "expected"), [
    ("200 result=123", ("123", False)),
    ("200 result=123 (timeout)", ("123", True)),
    ("200 result= (timeout)", ("", True)),
])
async def test_collect_digits(server: FakeAmi, agi: AsyncAgi, line: str,
                              expected: tuple[str, bool]) -> None:
    server.agi_result = lambda _channel, _command: line
    assert await channel(agi).collect_digits("enter-id", timeout_ms=3000,
                                             max_digits=3) == expected
    assert server.named("AGI")[0]["Command"] == "GET DATA enter-id 3000 3"


async def test_result_data_is_decoded_once(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "200 result=1 (50%41 off)"
    result = await channel(agi).execute("GET VARIABLE DISCOUNT")
    assert result.data == "50%41 off"


async def test_failed_result_on_a_dead_channel_raises(server: FakeAmi, agi: AsyncAgi) -> None:
    server.agi_result = lambda _channel, _command: "511 Command Not Permitted on a dead channel"
    with pytest.raises(ChannelHungUp):
        await channel(agi).play(["welcome"])
    with pytest.raises(ChannelHungUp):  # known gone: refused without asking Asterisk
        await channel(agi).play(["welcome"])
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
    with pytest.raises(ChannelHungUp):
        await caller
    assert not other.done()  # another channel's command is untouched

    server.push(agi_exec(OTHER, command_ids(server)[OTHER], "200 result=50 endpos=1"))
    assert await other == "2"
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
