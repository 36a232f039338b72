"""A 422 tells the console's user what is wrong in Chinese (callcenter.app.validation_problem),
whatever pydantic's own words are; the error type stays for programs."""

from __future__ import annotations

from datetime import date
from typing import Literal

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from callcenter.app import validation_error, validation_problem


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=4)
    count: int = Field(ge=1, le=9)
    kind: Literal["complaint", "report", "director"] = "complaint"
    day: date | None = None
    at: AwareDatetime | None = None
    tags: list[str] = Field(default_factory=list, max_length=2)


@pytest.mark.parametrize(("body", "reason"), [
    ({"count": 1}, "缺少“name”"),
    ({"name": "一", "count": 1}, "“name”至少 2 个字"),
    ({"name": "一二三四五", "count": 1}, "“name”最多 4 个字"),
    ({"name": "张三", "count": "几个"}, "“count”须为整数"),
    ({"name": "张三", "count": 0}, "“count”不能小于 1"),
    ({"name": "张三", "count": 10}, "“count”不能大于 9"),
    ({"name": "张三", "count": 1, "kind": "praise"},
     "“kind”只能是 'complaint'、'report'、'director'"),
    ({"name": "张三", "count": 1, "day": "12月1日"}, "“day”须为日期，如 2026-12-01"),
    ({"name": "张三", "count": 1, "at": "2026-12-01T09:00:00"}, "“at”须带时区，如 +08:00"),
    ({"name": "张三", "count": 1, "tags": ["a", "b", "c"]}, "“tags”最多 2 项"),
    ({"name": "张三", "count": 1, "colour": "red"}, "不认识的字段“colour”"),
])
def test_each_kind_of_invalid_field_reads_in_chinese(body: dict[str, object],
                                                     reason: str) -> None:
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]

    @app.post("/form")
    def post(form: Form) -> dict[str, str]:
        return {"name": form.name}

    response = TestClient(app).post("/form", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"] == reason
    assert problem["errors"][0]["msg"] == reason
    assert problem["errors"][0]["type"]  # pydantic's kind, for programs


def test_a_kind_without_words_keeps_pydantics_after_the_field() -> None:
    problem = validation_problem([{"loc": ("body", "x"), "msg": "Something odd",
                                   "type": "some_new_kind"}])
    assert problem["detail"] == "body.x: Something odd"


def test_a_malformed_json_body_is_said_so() -> None:
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]

    @app.post("/form")
    def post(form: Form) -> dict[str, str]:
        return {"name": form.name}

    response = TestClient(app).post("/form", content=b"{not json",
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == "请求内容不是有效的 JSON"


def test_several_fields_are_joined_for_people() -> None:
    errors = [{"loc": ("query", "from"), "msg": "Field required", "type": "missing"},
              {"loc": ("query", "to"), "msg": "Field required", "type": "missing"}]
    assert validation_problem(errors)["detail"] == "缺少“from”; 缺少“to”"
