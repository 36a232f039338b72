"""The voice menu as data: a tree of typed nodes, validated with pydantic."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PromptId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*(/[a-z0-9_]+)*$")]
NodeId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlayNode(_Node):
    """Play prompts, then go on. ``service`` marks the caller as served (self-service)."""

    type: Literal["play"]
    prompts: list[PromptId] = Field(min_length=1)
    next: NodeId
    barge_in: bool = True
    service: str | None = None
    detail: str | None = None


class MenuNode(_Node):
    """Play a prompt and wait for one key; replay on no or invalid input, then fall back."""

    type: Literal["menu"]
    prompt: PromptId
    options: dict[Key, NodeId] = Field(min_length=1)
    timeout_ms: int = Field(default=5000, ge=500, le=60000)
    retries: int = Field(default=2, ge=0, le=5)
    invalid_prompt: PromptId | None = None
    no_input_prompt: PromptId | None = None
    fallback: NodeId


class TransferNode(_Node):
    """Hand the caller to an agent queue (leaves the IVR)."""

    type: Literal["transfer"]
    queue: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    prompt: PromptId | None = None


class HangupNode(_Node):
    """Say goodbye and end the call."""

    type: Literal["hangup"]
    prompt: PromptId | None = None
    reason: str = "completed"


Node = Annotated[PlayNode | MenuNode | TransferNode | HangupNode, Field(discriminator="type")]


class UnknownTargets(ValueError):
    """Node references that name no node; ``problems`` holds (field path, message) pairs.

    The path is a tuple because node ids may themselves contain dots.
    """

    def __init__(self, problems: list[tuple[tuple[str, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(path)}: {message}" for path, message in problems))


class Menu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    start: NodeId
    nodes: dict[NodeId, Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _targets_exist(self) -> Menu:
        problems: list[tuple[tuple[str, ...], str]] = []
        if self.start not in self.nodes:
            problems.append((("start",), f"unknown node {self.start!r}"))
        for node_id, node in self.nodes.items():
            targets: list[tuple[str, str]] = []
            if isinstance(node, PlayNode):
                targets.append(("next", node.next))
            elif isinstance(node, MenuNode):
                targets += [(f"options.{k}", v) for k, v in node.options.items()]
                targets.append(("fallback", node.fallback))
            for field_name, target in targets:
                if target not in self.nodes:
                    problems.append((("nodes", node_id, *field_name.split(".")),
                                     f"unknown node {target!r}"))
        if problems:
            raise UnknownTargets(problems)
        return self

    def prompts(self) -> set[str]:
        """Every prompt id the menu can play."""
        found: set[str] = set()
        for node in self.nodes.values():
            if isinstance(node, PlayNode):
                found.update(node.prompts)
            elif isinstance(node, MenuNode):
                found.add(node.prompt)
                found.update(p for p in (node.invalid_prompt, node.no_input_prompt) if p)
            elif isinstance(node, TransferNode | HangupNode) and node.prompt:
                found.add(node.prompt)
        return found
