"""Recordings of agent calls (Asterisk's MixMonitor) and of callers' voice messages: one store,
one table, playback with an audit entry, retention (docs/console.md "Recordings")."""
