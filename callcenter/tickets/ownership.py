"""One ownership rule for every work item (tickets and callbacks).

* Supervisors and admins work on anyone's items and assign them to anyone.
* Agents and experts work on their own items and on unowned ones; they may take an unowned
  item for themselves and give back their own, and nothing else.
* An owner is always an existing, active user.
"""

from __future__ import annotations

from callcenter.auth.models import Role
from callcenter.auth.services import AuthUser, UserService
from callcenter.errors import DomainError

BOSSES = frozenset({Role.SUPERVISOR, Role.ADMIN})


class NotYours(DomainError, PermissionError):
    """The user may not do this to the item (HTTP 403); the message is for people."""

    default_status = 403


class NoSuchOwner(DomainError, ValueError):
    """The named owner is not an active user (HTTP 422); the detail names the field."""

    default_status = 422


def check_work(user: AuthUser, owner: str | None, what: str) -> None:
    """May ``user`` work on (change the status of) an item owned by ``owner``?"""
    if user.role in BOSSES or owner is None or owner == user.username:
        return
    raise NotYours(f"只能处理本人负责或无人负责的{what}；{what}由 {owner} 负责")


def check_assignment(user: AuthUser, owner: str | None, new_owner: str | None,
                     what: str) -> None:
    """May ``user`` change the owner of an item from ``owner`` to ``new_owner``?"""
    if user.role in BOSSES or new_owner == owner:
        return
    takes = owner is None and new_owner == user.username
    gives_back = owner == user.username and new_owner is None
    if not (takes or gives_back):
        raise NotYours(f"坐席只能认领无人负责的{what}或放弃本人的{what}；分派给他人需班长或管理员")


def check_owner(users: UserService, new_owner: str | None) -> None:
    """``new_owner`` (None: nobody) must be an existing, active user."""
    if new_owner is not None and users.active_staff(new_owner) is None:
        raise NoSuchOwner(f"owner: 用户 {new_owner} 不存在或已停用")
