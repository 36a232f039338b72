"""Agent states kept in step with Asterisk's queue membership, notes and dispositions."""
