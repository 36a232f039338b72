"""The shipped Asterisk configuration (ivr/pbx/asterisk/) gives the bridge what it relies on."""

from __future__ import annotations

import configparser

from ivr.pbx.sandbox import CONFIG_DIR


def read_conf(name: str) -> configparser.RawConfigParser:
    """An Asterisk .conf file (``key = value`` / ``key => value`` lines, ``;`` comments)."""
    parser = configparser.RawConfigParser(strict=False, delimiters=("=>", "="),
                                          inline_comment_prefixes=(";",),
                                          comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((CONFIG_DIR / name).read_text())
    return parser


def test_the_ami_user_reads_the_callers_keys() -> None:
    # type-ahead: every key arrives as a DTMFEnd event, of the "dtmf" class (ivr/agi.py)
    manager = read_conf("manager.conf")
    user = "@@AMI_USER@@"
    assert user in manager.sections()
    read = {c.strip() for c in manager.get(user, "read").split(",")}
    assert "all" in read or "dtmf" in read, read

