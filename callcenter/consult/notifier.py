"""New consultations announced to the console at once: a question submitted on the web page
or a text the knowledge base declined becomes a ``consult`` ticket, and the notifier publishes
``consult_submitted`` on the topic ``consult`` (every call-centre role may listen;
callcenter/notify/http.py). The console counts them on a badge and refreshes its work list
(callcenter/web/static/console-consult.js). With Redis the notification reaches every API
worker's sockets (callcenter/notify/redisbus.py).

Publishing never blocks and never fails the question: a notifier that raises is logged.
"""

from __future__ import annotations

import logging

from callcenter.notify.messages import ConsultationSubmitted
from callcenter.notify.services import Notifier
from callcenter.tickets.models import Ticket

log = logging.getLogger(__name__)

QUESTION_CHARS = 200


def masked(number: str) -> str:
    """A number as the page and the console's notice show it: 138****8000."""
    return f"{number[:3]}****{number[-4:]}"


def announce(notifier: Notifier | None, ticket: Ticket, channel: str, question: str) -> None:
    """Publish the new consultation ``ticket`` (``channel``: web | sms)."""
    if notifier is None:
        return
    try:
        notifier.consultation_submitted(ConsultationSubmitted(
            ticket_no=ticket.ticket_no, channel=channel, question=question[:QUESTION_CHARS],
            number_masked=masked(ticket.caller), created_at=ticket.created_at.isoformat(),
            due_at=ticket.due_at.isoformat()))
    except Exception:
        log.exception("consult: the new consultation %s was not announced", ticket.ticket_no)
