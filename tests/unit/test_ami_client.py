"""AmiClient against a fake AMI server: reader robustness, handler isolation, liveness,
reconnection with backoff, bounded actions and refused logins."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

import pytest

from ivr.ami.client import (
    AmiClient,
    AmiConnectionLost,
    AmiNotConnected,
    AmiState,
    AmiTimeout,
    Liveness,
)
from ivr.ami.events import AmiEvent, DtmfEnd, Hangup
from tests.unit.fake_ami import Clients, FakeAmi, event, eventually, message


def dtmf(digit: str, channel: str = "PJSIP/caller-00000001") -> bytes:
    return event("DTMFEnd", Channel=channel, Uniqueid="1700000000.1", Digit=digit,
                 Direction="Received")


# -- (1) the reader survives anything a peer sends ------------------------------------------


async def test_malformed_input_never_kills_the_reader(server: FakeAmi, clients: Clients) -> None:
    client = await clients.ready()
    everything: list[AmiEvent] = []
    digits: list[DtmfEnd] = []
    hangups: list[Hangup] = []
    client.on(AmiEvent, everything.append)
    client.on(DtmfEnd, digits.append)
    client.on(Hangup, hangups.append)

    server.push(b"no header in here at all\r\n\r\n")
    # a repeated Event header becomes a list, which panoramisk's own handler chokes on
    server.push(b"Event: Twice\r\nEvent: Twice\r\nChannel: x\r\n\r\n")
    server.push(b"\x00\xff\xfe\x80\x81binary\x00junk\xc3\x28\r\n\r\n")
    server.push(b"\r\n")  # a stray CRLF before the next message
    server.push(event("SomethingNew", Foo="bar"))
    server.push(dtmf("5"))
    await eventually(lambda: len(digits) == 1, what="the DTMF event after the junk")

    assert digits[0].digit == "5"
    unknown = [e for e in everything if e.name == "SomethingNew"]
    assert len(unknown) == 1
    assert type(unknown[0]) is AmiEvent
    assert unknown[0].header("foo") == "bar"

    malformed_before = client.health().malformed_events
    server.push(event("Hangup", Channel="PJSIP/caller-00000001", Uniqueid="1.1", Cause="x"))
    server.push(event("Hangup", Channel="PJSIP/caller-00000002", Uniqueid="1.2", Cause="16"))
    server.push(dtmf("6"))
    await eventually(lambda: len(digits) == 2, what="the DTMF event after the bad Hangup")

    health = client.health()
    assert health.malformed_events == malformed_before + 1
    assert [(h.channel, h.cause) for h in hangups] == [("PJSIP/caller-00000002", 16)]
    assert health.state is AmiState.READY
    assert server.logins == 1  # the connection was never dropped


# -- (2) a failing handler is isolated -------------------------------------------------------


async def test_failing_handlers_are_logged_and_isolated(
    server: FakeAmi, clients: Clients, caplog: pytest.LogCaptureFixture,
) -> None:
    client = await clients.ready()
    calls: list[str] = []

    def bad_sync(e: DtmfEnd) -> None:
        calls.append(f"sync {e.digit}")
        raise RuntimeError("sync handler broke")

    async def bad_async(e: DtmfEnd) -> None:
        calls.append(f"async {e.digit}")
        raise RuntimeError("async handler broke")

    def good(e: DtmfEnd) -> None:
        calls.append(f"good {e.digit}")

    client.on(DtmfEnd, bad_sync)
    client.on(DtmfEnd, bad_async)
    client.on(DtmfEnd, good)
    with caplog.at_level(logging.ERROR, logger="ivr.ami.client"):
        server.push(dtmf("1"))
        server.push(dtmf("2"))
        await eventually(lambda: client.health().handler_errors == 4, what="4 handler errors")

    assert [c for c in calls if c.startswith("good")] == ["good 1", "good 2"]
    assert sorted(c for c in calls if not c.startswith("good")) == [
        "async 1", "async 2", "sync 1", "sync 2",
    ]
    logged = [str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert logged.count("sync handler broke") == 2
    assert logged.count("async handler broke") == 2
    assert client.ready
    assert server.logins == 1


# -- (3) liveness: a half-open connection is noticed ----------------------------------------


async def test_half_open_connection_is_aborted_and_reconnected(
    server: FakeAmi, clients: Clients,
) -> None:
    client = await clients.ready(ping_interval=0.05, ping_timeout=0.1)
    errors_at_disconnect: list[str | None] = []
    client.on_disconnect(lambda: errors_at_disconnect.append(client.health().last_error))
    await eventually(lambda: len(server.named("Ping")) >= 1, what="a liveness Ping")

    server.mute_pings()
    await eventually(lambda: server.logins == 2 and client.ready, what="a second login")

    assert len(errors_at_disconnect) == 1
    error = errors_at_disconnect[0]
    assert error is not None
    assert "half-open" in error
    assert "Pong" in error
    assert client.health().reconnects == 1


class StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_liveness_needs_consecutive_misses_with_nothing_received() -> None:
    clock = StepClock()
    live = Liveness(3, clock)
    verdicts = []
    for _ in range(3):
        sent_at = clock()
        clock.now += 3.0
        verdicts.append(live.ping_missed(sent_at))
        clock.now += 5.0
    assert verdicts == [False, False, True]


def test_liveness_traffic_after_a_ping_proves_the_connection_alive() -> None:
    clock = StepClock()
    live = Liveness(2, clock)
    sent_at = clock()
    clock.now += 1.0
    assert live.ping_missed(sent_at) is False  # first miss
    sent_at = clock()
    clock.now += 1.0
    live.traffic()  # an event arrived while the Pong was late
    clock.now += 2.0
    assert live.ping_missed(sent_at) is False
    assert live.missed == 0
    # traffic from before the ping does not count for it
    sent_at = clock()
    clock.now += 3.0
    assert live.ping_missed(sent_at) is False
    sent_at = clock()
    clock.now += 3.0
    assert live.ping_missed(sent_at) is True


def test_liveness_a_reset_connection_starts_with_nothing_missed() -> None:
    clock = StepClock()
    live = Liveness(2, clock)
    live.ping_missed(clock())
    live.reset()
    assert live.missed == 0
    assert live.ping_missed(clock()) is False
    with pytest.raises(ValueError, match="at least 1"):
        Liveness(0, clock)


def test_the_liveness_limits_are_settings_with_a_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from callcenter.runtime import ami_client
    from callcenter.settings import Settings

    monkeypatch.setenv("HOTLINE_AMI_PING_TIMEOUT", "1.5")
    monkeypatch.setenv("HOTLINE_AMI_PING_MISSES", "5")
    settings = Settings()
    for client in (ami_client(settings), ami_client(settings, dial=True)):
        assert client.ping_timeout == 1.5
        assert client._liveness_state.misses == 5
    assert ami_client(settings, dial=True)._username == settings.ami_dial_user
    monkeypatch.setenv("HOTLINE_AMI_PING_MISSES", "0")
    with pytest.raises(ValidationError, match="ami_ping_misses"):
        Settings()


async def test_a_slow_connection_that_still_sends_events_is_kept(
    server: FakeAmi, clients: Clients,
) -> None:
    client = await clients.ready(ping_interval=0.05, ping_timeout=0.1, ping_misses=2)
    await eventually(lambda: len(server.named("Ping")) >= 1, what="a liveness Ping")
    server.mute_pings()  # Asterisk too busy to answer Pong in time ...
    pings = len(server.named("Ping"))
    while len(server.named("Ping")) < pings + 6:  # ... but still sending events
        server.push(dtmf("1"))
        await asyncio.sleep(0.02)
    assert server.logins == 1
    assert client.ready
    assert client.health().reconnects == 0
    # once it falls silent too, the connection is given up
    await eventually(lambda: server.logins == 2 and client.ready, what="a second login")
    assert client.health().reconnects == 1


# -- (4) reconnection and backoff -------------------------------------------------------------


async def test_dropped_connection_reconnects_and_reruns_ready_hooks(
    server: FakeAmi, clients: Clients,
) -> None:
    client = clients.make()
    ready_runs: list[int] = []
    disconnects: list[AmiState] = []

    async def on_ready() -> None:
        ready_runs.append(server.logins)

    client.on_ready(on_ready)
    client.on_disconnect(lambda: disconnects.append(client.state))
    await client.start()
    await client.wait_ready(5)
    await eventually(lambda: ready_runs == [1], what="the first ready hook")
    assert client.health().reconnects == 0
    assert client.health().connected_since is not None

    server.drop_connections()
    await eventually(lambda: len(ready_runs) == 2, what="the ready hook after reconnecting")

    health = client.health()
    assert ready_runs == [1, 2]
    assert disconnects == [AmiState.DISCONNECTED]
    assert health.reconnects == 1
    assert health.state is AmiState.READY
    assert health.last_error is None
    assert server.logins == 2


async def test_backoff_grows_while_the_server_is_down(server: FakeAmi, clients: Clients) -> None:
    initial = 0.03
    client = await clients.ready(backoff_initial=initial, backoff_max=10.0)
    server.down = True  # accept each connection and close it at once
    first = len(server.connection_times)
    dropped_at = time.monotonic()
    server.drop_connections()
    await eventually(lambda: len(server.connection_times) >= first + 4, timeout=10,
                     what="4 connection attempts")

    attempts = [dropped_at, *server.connection_times[first:first + 4]]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # attempt n comes no sooner than initial * 2**n after the one before (n from 0)
    for n, gap in enumerate(gaps):
        assert gap >= 0.9 * initial * 2**n, (n, gaps)
    assert max(gaps[:2]) < gaps[-1], gaps
    assert not client.ready

    server.down = False
    await eventually(lambda: client.ready, timeout=10, what="recovery")
    assert client.health().reconnects == 1
    assert server.logins == 2


# -- (5) actions are bounded -----------------------------------------------------------------


async def test_unanswered_action_times_out(server: FakeAmi, clients: Clients) -> None:
    client = await clients.ready()
    server.silent_actions.add("status")
    with pytest.raises(AmiTimeout, match="Status"):
        await client.send_action({"Action": "Status"}, timeout=0.1)
    assert len(server.named("Status")) == 1

    # a late answer is ignored; the connection keeps working
    server.push(message(("Response", "Success"),
                        ("ActionID", server.named("Status")[0]["ActionID"])))
    response = await client.send_action({"Action": "CoreSettings"})
    assert response["ActionID"] == server.named("CoreSettings")[0]["ActionID"]
    assert response["Response"] == "Success"
    assert client.ready
    assert server.logins == 1


async def test_sending_while_disconnected_fails_at_once(
    server: FakeAmi, clients: Clients,
) -> None:
    with pytest.raises(AmiNotConnected):
        await clients.make().send_action({"Action": "Ping"})  # never started

    client = await clients.ready()
    server.down = True
    server.drop_connections()
    await eventually(lambda: not client.ready, what="the client to notice the drop")
    sent = len(server.actions)
    coro = client.send_action({"Action": "Status"}, timeout=30)
    try:
        with pytest.raises(AmiNotConnected):
            coro.send(None)  # raises on its first step: it never waits for the connection
    finally:
        coro.close()
    assert len(server.actions) == sent


async def test_pending_action_fails_when_the_connection_drops(
    server: FakeAmi, clients: Clients,
) -> None:
    client = await clients.ready()
    server.silent_actions.add("status")
    pending = asyncio.create_task(client.send_action({"Action": "Status"}, timeout=30))
    await eventually(lambda: len(server.named("Status")) == 1, what="the Status action")

    server.drop_connections()
    with pytest.raises(AmiConnectionLost):
        await pending

    await eventually(lambda: client.ready and server.logins == 2, what="reconnection")
    pong = await client.send_action({"Action": "Ping"})
    assert pong["Ping"] == "Pong"
    assert len(server.named("Status")) == 1  # not replayed after the reconnection


# -- (6) refused login ------------------------------------------------------------------------


async def test_refused_login_is_reported_and_retried(server: FakeAmi, clients: Clients) -> None:
    server.refuse_logins = True
    client: AmiClient = clients.make()
    await client.start()
    await eventually(lambda: server.login_attempts >= 2, what="a retried login")

    health = client.health()
    assert health.state is not AmiState.READY
    assert not client.ready
    assert health.last_error is not None
    assert "login refused" in health.last_error
    assert server.logins == 0
    with pytest.raises(AmiNotConnected, match="login refused"):
        await client.wait_ready(0.01)

    server.refuse_logins = False
    await eventually(lambda: client.ready, timeout=10, what="login once allowed")
    assert client.health().last_error is None


async def test_a_server_that_never_answers_the_login_is_left_and_retried() -> None:
    accepted: list[int] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        await writer.drain()
        await reader.read()  # never answers; returns when the client hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "u", "s", ping_interval=0.05, ping_timeout=0.05,
                       backoff_initial=0.05, login_timeout=0.2)
    try:
        await client.start()
        for _ in range(200):
            if len(accepted) >= 2:
                break
            await asyncio.sleep(0.02)
        assert len(accepted) >= 2, "the client should give up on the silent server and retry"
        assert not client.ready
        assert "no login answer" in (client.health().last_error or "")
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_close_ends_the_pings_even_when_a_cancellation_is_swallowed(
    server: FakeAmi, clients: Clients, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Python 3.11's asyncio.wait_for returns the answer instead of raising when the task is
    # cancelled as the answer arrives: the ping loop then went on for ever and close() with it
    client = await clients.ready()
    pinging = asyncio.Event()

    async def swallowing(action: dict[str, str], **options: object) -> object:
        pinging.set()
        # the answer is on its way, and arrives with the cancellation, which wait_for drops
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        return {"Response": "Success"}

    monkeypatch.setattr(client, "send_action", swallowing)
    await asyncio.wait_for(pinging.wait(), 5)
    closing = asyncio.create_task(client.close())
    done, _ = await asyncio.wait({closing}, timeout=5)  # (wait_for would cancel it)
    closing.cancel()
    assert closing in done, "close() still waits on the ping loop"
    assert client.state is AmiState.CLOSED
