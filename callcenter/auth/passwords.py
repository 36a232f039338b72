"""The password rule of every account (the API, the console and `hotline users create`).

At least :data:`MIN_LENGTH` characters and :data:`MIN_DISTINCT` different ones, not only
white space, not containing the user name, not one of the common passwords shipped in
``common_passwords.txt``. Ten characters: NIST SP 800-63B asks for at least 8 and a check
against known-bad passwords; two more buy a factor of 10^4 against guessing digits, and a
person still types it at the start of every shift. The messages are for people (Chinese).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_DISTINCT = 4
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")


class WeakPassword(ValueError):
    """The password breaks the rule; the message says which part (Simplified Chinese)."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines
                     if line.strip() and not line.startswith("#"))


def check_password(password: str, username: str) -> None:
    """Raise :class:`WeakPassword` when ``password`` may not guard the account ``username``."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"密码至少需要{MIN_LENGTH}个字符")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"密码不能超过{MAX_LENGTH}个字符")
    if not password.strip():
        raise WeakPassword("密码不能全是空白字符")
    if len(set(password)) < MIN_DISTINCT:
        raise WeakPassword(f"密码至少需要{MIN_DISTINCT}个不同的字符")
    lowered = password.lower()
    if username and username.lower() in lowered:
        raise WeakPassword("密码不能包含用户名")
    if lowered in common_passwords() or lowered.strip() in common_passwords():
        raise WeakPassword("密码过于常见，请换一个")
