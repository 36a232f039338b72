"""Accounts, login sessions, role checks and the audit log."""
