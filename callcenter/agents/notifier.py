"""What the agent desk publishes, one method per notification (the records of
callcenter/notify/messages.py, the topics chosen by :class:`callcenter.notify.services.Notifier`:
the in-process one, or ``RedisNotifier`` in the process roles)."""

from __future__ import annotations

from callcenter.agents.state import Agent
from callcenter.notify.messages import (
    AgentsResynced,
    CallAbandoned,
    CallbackOffered,
    CallCompleted,
    CallConnected,
    CallMissed,
    CallRinging,
    QueueBoard,
)
from callcenter.notify.services import Notifier


class DeskNotifier:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def agent_state(self, agent: Agent) -> None:
        """The agent's state changed (topics ``agents`` and ``agents.<username>``)."""
        self.notifier.agent_state(agent.notification())

    def agents_resynced(self, resyncs: int) -> None:
        """The desk brought its agents in line with Asterisk after a (re)connection."""
        self.notifier.agents_resynced(AgentsResynced(resyncs=resyncs))

    def queue_board(self, board: QueueBoard) -> None:
        """A caller joined or left a queue: the supervisor's board."""
        self.notifier.queue_board(board)

    def callback_offered(self, number: str, queue: str) -> None:
        """A caller waiting in ``queue`` accepted the callback offer."""
        self.notifier.callback_offered(CallbackOffered(number=number, queue=queue))

    def call_ringing(self, username: str, card: CallRinging) -> None:
        """The agent's phone rings: the call card."""
        self.notifier.call_ringing(username, card)

    def call_connected(self, username: str, linkedid: str, queue: str,
                       hold_time: int) -> None:
        self.notifier.call_connected(username, CallConnected(
            linkedid=linkedid, queue=queue, hold_time=hold_time))

    def call_completed(self, username: str, linkedid: str, talk_time: int | None,
                       reason: str) -> None:
        """The agent's call ended (``reason`` ``lost``: out of sight, found at a resync)."""
        self.notifier.call_completed(username, CallCompleted(
            linkedid=linkedid, talk_time=talk_time, reason=reason))

    def call_missed(self, username: str, linkedid: str) -> None:
        """The agent let the phone ring out."""
        self.notifier.call_missed(username, CallMissed(linkedid=linkedid))

    def call_abandoned(self, username: str, linkedid: str | None) -> None:
        """The caller of the agent's ringing call hung up (or the call vanished)."""
        self.notifier.call_abandoned(username, CallAbandoned(linkedid=linkedid))
