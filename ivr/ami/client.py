"""The AMI connection, on panoramisk: login, reconnect with backoff, liveness, bounded actions.

panoramisk (asyncio) handles the wire protocol and re-login after a reconnect. Around it this
module adds what the bridge needs and panoramisk does not do (see
docs/decisions/0001-ami-client.md):

* exponential reconnect backoff, and no replay of actions sent before a disconnect;
* a liveness check (``Ping`` with a deadline) that aborts a half-open connection: only after
  ``ping_misses`` consecutive unanswered pings with no AMI traffic at all meanwhile (any
  message received, an event or a response, proves the connection alive: a busy Asterisk
  answers late but keeps talking);
* every action bounded by a timeout (``AmiTimeout``), refused at once when not connected;
* typed events dispatched to handlers, each handler isolated: an exception is logged and the
  next event is still processed; a malformed message never kills the reader;
* with ``event_filter``, Asterisk sends the session only the events some handler subscribed
  to: after each login, one AMI ``Filter`` (include, by event name) per subscribed name
  (:meth:`AmiClient.subscribed_events`, the one place the names come from);
* ``on_ready`` hooks run after each (re)login once Asterisk is fully booted (resync point);
* a health snapshot for ``/api/v1/health``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

from ivr.ami.events import EVENT_TYPES, AmiEvent, FullyBooted, MalformedEvent, Shutdown, parse_event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=AmiEvent)
Handler = Callable[[E], Awaitable[None] | None]
ReadyHook = Callable[[], Awaitable[None]]
Response = Mapping[str, Any]


class AmiError(Exception):
    """Base class of AMI failures."""


class AmiNotConnected(AmiError):
    """An action was attempted while the connection is down."""


class AmiTimeout(AmiError):
    """An action got no response in time."""


class AmiConnectionLost(AmiError):
    """The connection dropped while an operation was waiting on it."""


class AmiState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True)
class AmiHealth:
    state: AmiState
    host: str
    port: int
    connected_since: float | None
    reconnects: int
    last_error: str | None
    last_event_age_s: float | None
    events_received: int
    handler_errors: int
    malformed_events: int


class Liveness:
    """When a connection counts as half-open: ``misses`` consecutive pings unanswered in time,
    with nothing received from Asterisk since the first of them was sent.

    Any received message resets the count (:meth:`traffic`), so a live connection that is
    merely slow (a loaded Asterisk that answers Pong late but still sends events) is kept;
    a dead one, silent for ``misses`` ping rounds, is given up. Pure and driven by an
    injected clock, so that it is tested without waiting."""

    def __init__(self, misses: int, clock: Callable[[], float] = time.monotonic) -> None:
        if misses < 1:
            raise ValueError("misses must be at least 1")
        self.misses = misses
        self.clock = clock
        self.missed = 0
        self.last_traffic: float | None = None

    def reset(self) -> None:
        """A new connection: nothing missed yet."""
        self.missed = 0
        self.last_traffic = None

    def traffic(self) -> None:
        """Something arrived from Asterisk: the connection is alive."""
        self.last_traffic = self.clock()
        self.missed = 0

    def ping_missed(self, sent_at: float) -> bool:
        """A ping sent at ``sent_at`` (on :attr:`clock`) got no Pong in time; True when the
        connection is now to be taken as half-open."""
        if self.last_traffic is not None and self.last_traffic >= sent_at:
            self.missed = 0  # late Pong aside, Asterisk talked after the ping: alive
            return False
        self.missed += 1
        return self.missed >= self.misses


# what the client itself reads, whatever is subscribed: FullyBooted (login, readiness) and
# Shutdown (panoramisk drops the connection on it)
OWN_EVENTS = (FullyBooted.event_name, Shutdown.event_name)


def subscription_names(event_type: type[AmiEvent],
                       names: Iterable[str] | None = None) -> frozenset[str] | None:
    """The event names a subscription to ``event_type`` receives: ``names`` when given, else
    those of the typed events of that type (``QueueEvent``: its seven); None for ``AmiEvent``
    without names (any event at all, which no filter can express)."""
    if names is not None:
        named = frozenset(names)
        if not named:
            raise ValueError("a subscription by name needs at least one name")
        return named
    if event_type is AmiEvent:
        return None
    typed = frozenset(cls.event_name for cls in EVENT_TYPES.values()
                      if issubclass(cls, event_type))
    if not typed:
        raise ValueError(f"{event_type.__name__} names no event: give names")
    return typed


def filter_action(name: str) -> dict[str, str]:
    """The AMI action that lets events called ``name`` through this session's filter (an
    advanced include filter, Asterisk 21 and later: matched on the name, no regex)."""
    return {"Action": "Filter", "Operation": "Add",
            "MatchCriteria": f"action(include),name({name})", "Filter": ""}


# a legacy (regex) include filter that every event matches
ALL_EVENTS_FILTER = {"Action": "Filter", "Operation": "Add", "Filter": "Event:"}


@dataclass(frozen=True)
class _Subscription:
    event_type: type[AmiEvent]
    names: frozenset[str] | None    # lower case; None: every event of event_type
    handler: Callable[[Any], Any]


class _Everything:
    """A container holding every action name: nothing is replayed after a reconnect."""

    def __contains__(self, item: object) -> bool:
        return True


class _SafeProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol, with each message handled in isolation."""

    def handle_message(self, message: Any) -> None:
        try:
            super().handle_message(message)
        except Exception:
            log.exception("AMI message could not be handled and was skipped: %r", message)

    def data_received(self, data: bytes) -> None:
        owner = getattr(getattr(self, "factory", None), "owner", None)
        if isinstance(owner, AmiClient):
            owner._liveness_state.traffic()
        try:
            super().data_received(data)
        except Exception:
            log.exception("AMI data could not be parsed and was skipped")


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk Manager with backoff and hooks into :class:`AmiClient`."""

    def __init__(self, owner: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self.owner = owner

    def connect(self, run_forever: bool = False, on_startup: Any = None,
                on_shutdown: Any = None) -> Any:
        if self.owner.state is AmiState.CLOSED:
            return None
        self.owner._set_state(AmiState.CONNECTING)
        return super().connect(run_forever, on_startup, on_shutdown)

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if self.owner.state is AmiState.CLOSED:
            if not f.cancelled() and f.exception() is None:
                transport, _protocol = f.result()
                transport.close()
            return
        if f.cancelled() or f.exception() is not None:
            error = "cancelled" if f.cancelled() else str(f.exception())
            self.owner._connect_failed(error)
            self.reconnect_timeout = self.owner._next_backoff()
        else:
            self.owner._transport_up_at = time.monotonic()
            self.owner._liveness_state.reset()
        super().connection_made(f)

    def login(self, future: asyncio.Future[Any]) -> bool:
        if future.cancelled() or future.exception() is not None:
            self.owner._connect_failed("login got no response")
            return False
        ok = bool(super().login(future))
        if not ok:
            response = future.result()
            error = f"login refused: {response.get('Message', '')}"
            self.owner._connect_failed(error)
            self.owner.abort_connection(error)  # connection_lost then backs off once
        return ok

    def dispatch(self, event: Any) -> list[str]:
        self.owner._dispatch(event)
        return []

    def connection_lost(self, exc: Any) -> None:
        self.owner._connection_lost(exc)
        if self.owner.state is AmiState.CLOSED:
            return
        self.reconnect_timeout = self.owner._next_backoff()
        super().connection_lost(exc)


class AmiClient:
    """One long-lived AMI connection to one Asterisk."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        action_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        ping_misses: int = 3,
        backoff_initial: float = 0.5,
        backoff_max: float = 15.0,
        login_timeout: float = 10.0,
        event_filter: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port = host, port
        self.action_timeout = action_timeout
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self._liveness_state = Liveness(ping_misses, clock)
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.login_timeout = login_timeout
        self._username, self._secret = username, secret
        self._subscriptions: list[_Subscription] = []
        # the names subscribed, as given (Asterisk's name filter is exact); None: some handler
        # takes every event, nothing can be filtered
        self._names: set[str] | None = set(OWN_EVENTS)
        self.event_filter = event_filter
        self._filtered: set[str] = set()  # the names this session's filters let through
        self._ready_hooks: list[ReadyHook] = []
        self._disconnect_hooks: list[Callable[[], None]] = []
        self._manager: _Manager | None = None
        self._state = AmiState.DISCONNECTED
        self._ready = asyncio.Event()
        self._backoff = backoff_initial
        self._liveness: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._action_ids = itertools.count(1)
        self._logged_in = False
        self._inflight: set[asyncio.Future[Any]] = set()
        self._abort_reason: str | None = None
        self._transport_up_at: float | None = None
        # health figures
        self._connected_since: float | None = None
        self._reconnects = 0
        self._ever_ready = False
        self._booted_at: float | None = None
        self._last_error: str | None = None
        self._last_event_at: float | None = None
        self._events = 0
        self._handler_errors = 0
        self._malformed = 0
        self.events_by_name: Counter[str] = Counter()

    # -- registration ---------------------------------------------------------------------

    def on(self, event_type: type[E], handler: Handler[E], *,
           names: Iterable[str] | None = None) -> None:
        """Call ``handler`` for every event of ``event_type`` (subclasses included), or with
        ``names``, for those events of ``event_type`` with one of these names (``AmiEvent``
        with names: untyped events such as ``UserEvent``). With ``event_filter`` every
        subscription must name its events (a typed event does): Asterisk sends nothing else."""
        subscribed = subscription_names(event_type, names)
        if subscribed is None:
            if self.event_filter:
                raise ValueError("an AMI client with event_filter takes no catch-all handler:"
                                 " name the events")
            self._names = None
        elif self._names is not None:
            self._names |= subscribed
        lower = None if subscribed is None else frozenset(n.lower() for n in subscribed)
        self._subscriptions.append(_Subscription(event_type, lower, handler))
        if self.event_filter and self._logged_in:  # subscribed late: let the new ones in
            self._spawn(self._apply_filters(), "event filter")

    @property
    def filters_set(self) -> frozenset[str]:
        """The event names this session's filters let through (empty: none set, every
        event of the account's classes comes)."""
        return frozenset(self._filtered)

    def subscribed_events(self) -> frozenset[str] | None:
        """Every event name some handler (or the client itself) consumes; None when a
        handler takes any event."""
        return None if self._names is None else frozenset(self._names)

    def on_ready(self, hook: ReadyHook) -> None:
        """Run ``hook`` after every (re)login, once Asterisk is fully booted."""
        self._ready_hooks.append(hook)

    def on_disconnect(self, hook: Callable[[], None]) -> None:
        self._disconnect_hooks.append(hook)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting (returns at once; the connection retries in the background)."""
        if self._manager is not None:
            return
        loop = asyncio.get_running_loop()
        self._manager = _Manager(
            self,
            host=self.host, port=self.port, username=self._username, secret=self._secret,
            loop=loop, protocol_factory=_SafeProtocol, reconnect_timeout=self.backoff_initial,
            ping_delay=10**9, ping_interval=10**9, forgetable_actions=_Everything(),
        )
        self._manager.connect()
        self._liveness = asyncio.create_task(self._liveness_loop(), name="ami-liveness")

    async def close(self) -> None:
        self._set_state(AmiState.CLOSED)
        if self._liveness is not None:
            self._liveness.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._liveness
        if self._manager is not None:
            self._manager.close()
        for task in list(self._tasks):
            task.cancel()

    async def wait_ready(self, timeout: float | None = None) -> None:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError as exc:
            raise AmiNotConnected(
                f"AMI at {self.host}:{self.port} not ready within {timeout} s "
                f"({self._last_error or 'no answer'})"
            ) from exc

    @property
    def state(self) -> AmiState:
        return self._state

    @property
    def ready(self) -> bool:
        return self._state is AmiState.READY

    @property
    def closed(self) -> bool:
        return self._state is AmiState.CLOSED

    @property
    def booted_at(self) -> float | None:
        """When the Asterisk of the last login started, on ``time.monotonic()``'s scale (from
        the ``Uptime`` of its FullyBooted event, whole seconds); None before any login."""
        return self._booted_at

    def health(self) -> AmiHealth:
        now = time.monotonic()
        return AmiHealth(
            state=self._state, host=self.host, port=self.port,
            connected_since=self._connected_since, reconnects=self._reconnects,
            last_error=self._last_error,
            last_event_age_s=None if self._last_event_at is None else now - self._last_event_at,
            events_received=self._events, handler_errors=self._handler_errors,
            malformed_events=self._malformed,
        )

    def abort_connection(self, reason: str | None = None) -> None:
        """Drop the TCP connection as a network failure would (it then reconnects);
        ``reason`` is kept in ``last_error`` once the connection is down."""
        manager = self._manager
        if manager is not None and manager.protocol is not None:
            transport = getattr(manager.protocol, "transport", None)
            if transport is not None:
                self._abort_reason = reason
                transport.abort()

    # -- actions --------------------------------------------------------------------------

    async def send_action(
        self, action: Mapping[str, Any], *, timeout: float | None = None,
        as_list: bool = False,
    ) -> Any:
        """Send an action and wait for its response (a list of messages when ``as_list``).

        Raises AmiNotConnected at once when the connection is down, AmiTimeout when no answer
        comes within ``timeout`` (default ``action_timeout``).
        """
        manager = self._manager
        if manager is None or not self._logged_in or manager.protocol is None:
            raise AmiNotConnected(f"AMI not connected ({self._last_error or self._state})")
        name = str(action.get("Action", "?"))
        message = Action(dict(action), as_list=as_list)
        future = manager.send_action(message, as_list=as_list)
        limit = self.action_timeout if timeout is None else timeout
        self._inflight.add(future)
        try:
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except TimeoutError as exc:
            responses = getattr(manager.protocol, "responses", {})
            responses.pop(message.id, None)
            future.cancel()
            raise AmiTimeout(f"AMI action {name} got no response within {limit} s") from exc
        finally:
            self._inflight.discard(future)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{id(self):x}-{next(self._action_ids)}"

    # -- internals ------------------------------------------------------------------------

    def _set_state(self, state: AmiState) -> None:
        if self._state is AmiState.CLOSED and state is not AmiState.CLOSED:
            return
        if state is not self._state:
            log.info("AMI %s:%s %s -> %s", self.host, self.port, self._state, state)
        self._state = state
        if state is AmiState.READY:
            self._ready.set()
        else:
            self._ready.clear()

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(self.backoff_max, self._backoff * 2)
        return delay

    def _connect_failed(self, error: str) -> None:
        self._last_error = error
        log.warning("AMI %s:%s: %s", self.host, self.port, error)

    def _connection_lost(self, exc: Any) -> None:
        was_logged_in = self._logged_in
        self._logged_in = False
        self._transport_up_at = None
        for future in list(self._inflight):  # their answers will never come
            if not future.done():
                future.set_exception(AmiConnectionLost("AMI connection lost before the answer"))
        self._connected_since = None
        reason, self._abort_reason = self._abort_reason, None
        if self._state is not AmiState.CLOSED:
            lost = f"connection lost ({exc})" if exc else "connection lost"
            self._last_error = f"{lost}: {reason}" if reason else lost
            self._set_state(AmiState.DISCONNECTED)
        if was_logged_in:
            for hook in self._disconnect_hooks:
                try:
                    hook()
                except Exception:
                    log.exception("AMI disconnect hook failed")

    def _dispatch(self, message: Any) -> None:
        self._events += 1
        self._last_event_at = time.monotonic()
        self.events_by_name[str(message.get("Event", "?"))] += 1
        try:
            event = parse_event(message)
        except Exception:  # parse_event never raises; belt and braces for the reader
            log.exception("AMI event could not be parsed: %r", message)
            self._malformed += 1
            return
        if isinstance(event, MalformedEvent):
            self._malformed += 1
            log.warning("malformed AMI event %s skipped: %s", event.name, event.error)
            return
        if isinstance(event, FullyBooted):
            self._on_fully_booted(event)
        name = event.name.lower()
        for sub in list(self._subscriptions):
            if isinstance(event, sub.event_type) and (sub.names is None or name in sub.names):
                self._call(sub.handler, event)

    def _call(self, handler: Callable[[Any], Any], event: AmiEvent) -> None:
        try:
            result = handler(event)
        except Exception:
            self._handler_errors += 1
            log.exception("AMI handler %r failed on %s", handler, event.name)
            return
        if inspect.isawaitable(result):
            self._spawn(result, f"handler {event.name}")

    def _spawn(self, awaitable: Awaitable[Any], what: str) -> None:
        async def run() -> None:
            try:
                await awaitable
            except asyncio.CancelledError:
                raise
            except Exception:
                self._handler_errors += 1
                log.exception("AMI %s failed", what)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_fully_booted(self, event: FullyBooted) -> None:
        # Asterisk sends events only to a logged-in session, and FullyBooted right after the
        # login response (before panoramisk's login callback has run).
        if self._manager is None:
            return
        uptime = event.header("Uptime")
        if uptime.isdigit():
            self._booted_at = time.monotonic() - int(uptime)
        first_login = not self._logged_in
        self._logged_in = True
        if not first_login and self._state is AmiState.READY:
            return
        if self._ever_ready:
            self._reconnects += 1
        self._ever_ready = True
        self._backoff = self.backoff_initial
        self._connected_since = time.monotonic()
        self._last_error = None
        self._set_state(AmiState.READY)
        self._filtered = set()  # a new session: no filter yet
        # the hooks registered by now (one registered later waits for the next login)
        self._spawn(self._after_login(list(self._ready_hooks)), "login")

    async def _after_login(self, hooks: list[ReadyHook]) -> None:
        """The session's event filters first (the resync of the ready hooks must not miss
        an event to them), then the ready hooks."""
        if self.event_filter:
            await self._apply_filters()
        for hook in hooks:
            self._spawn(hook(), "ready hook")

    async def _apply_filters(self) -> None:
        """One include filter per subscribed name this session lacks. Asterisk answers an
        action's own event list (QueueStatus's QueueMember, CoreShowChannels'
        CoreShowChannel) whatever the session's filters. Should a filter fail once others are
        set, one that lets every event through is added: more events, never a lost one."""
        names = self.subscribed_events()
        if names is None:
            return
        for name in sorted(names - self._filtered):
            try:
                response = await self.send_action(filter_action(name))
            except AmiError as exc:
                refused = str(exc)
            else:
                if str(response.get("Response", "")).lower() == "success":
                    self._filtered.add(name)
                    continue
                refused = str(response.get("Message", ""))
            log.error("AMI event filter for %s not set (%s): the session gets every event",
                      name, refused)
            if self._filtered:
                with contextlib.suppress(AmiError):
                    await self.send_action(ALL_EVENTS_FILTER)
            self._names = None  # nothing more to filter on this client
            return

    async def _liveness_loop(self) -> None:
        """Ping on an idle-independent schedule; ``ping_misses`` missed Pongs in a row with no
        other traffic meanwhile abort the connection (:class:`Liveness`).

        Ends when the client is closed, not only when cancelled: on Python 3.11,
        ``asyncio.wait_for`` returns the result instead of raising when the cancellation
        arrives as the Pong does, and the loop would then ping a closed client for ever (a
        test's teardown waited on it until CI's limit)."""
        while not self.closed:
            await asyncio.sleep(self.ping_interval)
            if self.closed:
                return
            if not self.ready:
                up_at = self._transport_up_at
                if up_at is not None and time.monotonic() - up_at > self.login_timeout:
                    # connected but never logged in / never got FullyBooted: start over
                    self._transport_up_at = None
                    self.abort_connection(f"no login answer within {self.login_timeout} s")
                continue
            sent_at = self._liveness_state.clock()
            try:
                await self.send_action({"Action": "Ping"}, timeout=self.ping_timeout)
            except AmiTimeout:
                if not self._liveness_state.ping_missed(sent_at):
                    continue
                misses = self._liveness_state.misses
                self._last_error = (f"no Pong within {self.ping_timeout} s, {misses} times, "
                                    "and nothing else received: connection half-open")
                log.warning("AMI %s:%s %s; reconnecting", self.host, self.port,
                            self._last_error)
                self.abort_connection(self._last_error)
            except AmiError:
                continue
