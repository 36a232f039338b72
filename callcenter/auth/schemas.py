"""API shapes of accounts and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from callcenter.auth.models import Role
from callcenter.auth.passwords import MAX_LENGTH, MIN_LENGTH, check_password

# no dots: a user name is part of the live topics `calls.<username>`, `agents.<username>`
USERNAME_PATTERN = r"^[A-Za-z0-9_-]{2,64}$"
# a reference to an existing user (older accounts may have dots in their names)
USERNAME_REF_PATTERN = r"^[A-Za-z0-9_.-]{2,64}$"
INTERFACE_PATTERN = r"^(PJSIP|SIP|Local)/[A-Za-z0-9_.@-]{1,100}$"
# the Asterisk node of an agent's phone (HOTLINE_NODE of its bridge); "" in an update: default
NODE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    interface: str | None = None
    active: bool = True
    node: str | None = None
    mobile: str | None = None


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: UserOut


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(max_length=MAX_LENGTH, json_schema_extra={"minLength": MIN_LENGTH},
                          description="at least 10 characters, 4 different, not the user "
                                      "name, not a common password")
    role: Role
    display_name: str = Field(default="", max_length=128)
    interface: str | None = Field(default=None, pattern=INTERFACE_PATTERN)
    node: str | None = Field(default=None, pattern=NODE_PATTERN)

    @field_validator("password")
    @classmethod
    def strong_password(cls, value: str, info: ValidationInfo) -> str:
        check_password(value, str(info.data.get("username", "")))  # the reason, in Chinese
        return value


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=128)
    password: str | None = Field(default=None, max_length=MAX_LENGTH,
                                 json_schema_extra={"minLength": MIN_LENGTH},
                                 description="a new password ends every session of the user")
    active: bool | None = None
    interface: str | None = Field(default=None, pattern=INTERFACE_PATTERN)
    node: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{0,32}$")
    # a mainland mobile for notices to staff by text; "" removes it
    mobile: str | None = Field(default=None, pattern=r"^(1[3-9][0-9]{9})?$")

    @field_validator("password")
    @classmethod
    def strong_password(cls, value: str | None) -> str | None:
        if value is not None:  # the user name is checked too, by UserService
            check_password(value, "")
        return value


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
