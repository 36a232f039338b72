"""Queues, skills, pause reasons and dispositions: configuration in the database, pushed to
Asterisk (see docs/decisions/0002-queue-config.md)."""
