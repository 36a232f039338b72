"""The SMS sender the services are handed in unit tests (the real one is Kannel's sendsms:
tests/sms/test_sms_gateway.py)."""

from __future__ import annotations


class SentTexts:
    """Keeps every text it is handed; ``refuse`` makes it answer like a gateway that refuses."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []   # (number, text, message id)
        self.refuse = False

    async def send(self, number: str, text: str, message_id: int) -> str | None:
        self.sent.append((number, text, message_id))
        return "refused" if self.refuse else None

    @property
    def texts(self) -> list[tuple[str, str]]:
        """(number, text) of each text handed over, in order."""
        return [(number, text) for number, text, _ in self.sent]
