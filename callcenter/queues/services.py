"""Queue configuration: CRUD in the database and the push to Asterisk.

The push (``QueueConfigPusher.push``) rewrites ``queues_hotline.conf`` in Asterisk's
configuration directory over AMI (``GetConfig`` + ``UpdateConfig``: every old category deleted,
one category per active queue written), runs ``queue reload parameters`` and stores each queue's
overflow target and threshold in AstDB (``hotline/<queue>-overflow``, ``-after``) where the
``hotline-queue`` dialplan reads them, and whether its agent calls are recorded
(``hotline/<queue>-record``, 1 or 0, read by the ``hotline-record`` dialplan). Works against
a remote Asterisk: no file system access.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from callcenter.auth.services import audit
from callcenter.db import Database
from callcenter.errors import DomainError, NotFound
from callcenter.queues.models import AgentSkill, Disposition, PauseReason, QueueConfig, Skill
from ivr.ami.client import AmiClient
from ivr.clock import Clock

log = logging.getLogger(__name__)

CONFIG_FILE = "queues_hotline.conf"
ASTDB_FAMILY = "hotline"
CALLBACK_CONTEXT = "hotline-callback"
SOUND_CALLBACK_OFFER = "queue_callback_offer"  # sounds/zh, ivr/prompts/catalogue.yaml
MUSIC_CLASS = "hotline"  # ivr/pbx/asterisk/musiconhold.conf
HOLDTIME_ROUNDING_S = 10  # the expected wait is said in minutes and seconds (to 10 s)


MAX_HEADERS = 100  # header lines per UpdateConfig (Asterisk refuses more than 128)


def _chunks(steps: list[dict[str, str]], limit: int) -> list[list[dict[str, str]]]:
    chunks: list[list[dict[str, str]]] = [[]]
    used = 0
    for step in steps:
        if used + len(step) > limit and chunks[-1]:
            chunks.append([])
            used = 0
        chunks[-1].append(step)
        used += len(step)
    return [c for c in chunks if c]


class ConfigError(DomainError):
    """A configuration change that cannot be made (message for people); 422."""

    default_status = 422


@dataclass(frozen=True)
class Membership:
    queue: str
    penalty: int


def asterisk_params(queue: QueueConfig) -> list[tuple[str, str]]:
    """The queues.conf lines of one queue."""
    params = [
        ("strategy", queue.strategy),
        ("timeout", str(queue.ring_timeout_s)),
        ("retry", "2"),
        ("wrapuptime", "0"),  # wrap-up is kept by the call center (paused member)
        ("joinempty", "yes"),
        ("leavewhenempty", "no"),
        ("ringinuse", "no"),
        ("setinterfacevar", "yes"),
        # the caller waits to music (the Queue() of extensions.conf has no option r); the
        # position and expected-wait announcements are Asterisk's queue-* sounds and the
        # numbers of its zh SayNumber (digits/*), rendered in Mandarin into sounds/zh
        ("musicclass", MUSIC_CLASS),
        ("announce-position", "yes" if queue.announce_position else "no"),
        ("announce-holdtime", "yes" if queue.announce_position else "no"),
        ("announce-round-seconds", str(HOLDTIME_ROUNDING_S)),
        ("announce-frequency", str(queue.announce_frequency_s if queue.announce_position
                                   else 0)),
        ("min-announce-frequency", "15"),
        # the callback offer: first played after callback_offer_after_s of waiting;
        # the caller presses 1 -> CALLBACK_CONTEXT (UserEvent HotlineCallback)
        ("periodic-announce", SOUND_CALLBACK_OFFER),
        ("periodic-announce-frequency", str(queue.callback_offer_after_s)),
        ("context", CALLBACK_CONTEXT),
    ]
    return params


class QueueService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- reads ----------------------------------------------------------------------------

    def queues(self, active_only: bool = False) -> Sequence[QueueConfig]:
        query = select(QueueConfig).order_by(QueueConfig.expert, QueueConfig.name)
        if active_only:
            query = query.where(QueueConfig.active.is_(True))
        with self.db.session() as session:
            return session.scalars(query).all()

    def queue(self, name: str) -> QueueConfig | None:
        with self.db.session() as session:
            return session.get(QueueConfig, name)

    def skills(self) -> Sequence[Skill]:
        with self.db.session() as session:
            return session.scalars(select(Skill).order_by(Skill.name)).all()

    def agent_skills(self, username: str | None = None) -> Sequence[AgentSkill]:
        query = select(AgentSkill).order_by(AgentSkill.username, AgentSkill.skill)
        if username is not None:
            query = query.where(AgentSkill.username == username)
        with self.db.session() as session:
            return session.scalars(query).all()

    def pause_reasons(self) -> Sequence[PauseReason]:
        with self.db.session() as session:
            return session.scalars(select(PauseReason).where(PauseReason.active.is_(True))
                                   .order_by(PauseReason.code)).all()

    def dispositions(self) -> Sequence[Disposition]:
        with self.db.session() as session:
            return session.scalars(select(Disposition).where(Disposition.active.is_(True))
                                   .order_by(Disposition.code)).all()

    def memberships(self, username: str) -> list[Membership]:
        """The queues an agent joins when ready: every active queue of one of their skills."""
        with self.db.session() as session:
            rows = session.execute(
                select(QueueConfig.name, AgentSkill.penalty)
                .join(AgentSkill, AgentSkill.skill == QueueConfig.skill)
                .where(AgentSkill.username == username, QueueConfig.active.is_(True))
                .order_by(QueueConfig.name)
            ).all()
        return [Membership(name, penalty) for name, penalty in rows]

    # -- writes (each audited) ------------------------------------------------------------

    def save_queue(self, data: dict[str, Any], *, actor: str) -> QueueConfig:
        with self.db.transaction() as session:
            if session.get(Skill, data["skill"]) is None:
                raise ConfigError(f"技能 {data['skill']} 不存在")
            target = data.get("overflow_to")
            if target is not None:
                if target == data["name"]:
                    raise ConfigError("溢出队列不能是队列本身")
                if session.get(QueueConfig, target) is None:
                    raise ConfigError(f"溢出队列 {target} 不存在")
            queue = session.get(QueueConfig, data["name"])
            if queue is None:
                queue = QueueConfig(**data)
                session.add(queue)
                action = "queue.create"
            else:
                for key, value in data.items():
                    setattr(queue, key, value)
                action = "queue.update"
            audit(session, actor, action, data["name"], at=self.clock(),
                  **{k: v for k, v in data.items() if k != "name"})
            session.flush()
            return queue

    def save_skill(self, name: str, title: str, *, actor: str) -> Skill:
        with self.db.transaction() as session:
            skill = session.get(Skill, name) or Skill(name=name, title=title)
            skill.title = title
            session.add(skill)
            audit(session, actor, "skill.save", name, at=self.clock(), title=title)
            return skill

    def set_agent_skills(self, username: str, skills: dict[str, int], *, actor: str) -> None:
        """Replace the skills of the user ``username`` (LookupError: no such user)."""
        from callcenter.auth.models import User

        with self.db.transaction() as session:
            if session.scalar(select(User.id).where(User.username == username)) is None:
                raise NotFound(f"用户 {username} 不存在")
            known = set(session.scalars(select(Skill.name)))
            unknown = sorted(set(skills) - known)
            if unknown:
                raise ConfigError(f"技能不存在：{'、'.join(unknown)}")
            session.execute(delete(AgentSkill).where(AgentSkill.username == username))
            for skill, penalty in skills.items():
                session.add(AgentSkill(username=username, skill=skill, penalty=penalty))
            audit(session, actor, "agent.skills", username, at=self.clock(), skills=skills)

    def save_pause_reason(self, code: str, title: str, active: bool, *, actor: str) -> None:
        with self.db.transaction() as session:
            row = session.get(PauseReason, code) or PauseReason(code=code, title=title)
            row.title, row.active = title, active
            session.add(row)
            audit(session, actor, "pause_reason.save", code, at=self.clock(), title=title,
                  active=active)

    def save_disposition(self, code: str, title: str, active: bool, *, actor: str) -> None:
        with self.db.transaction() as session:
            row = session.get(Disposition, code) or Disposition(code=code, title=title)
            row.title, row.active = title, active
            session.add(row)
            audit(session, actor, "disposition.save", code, at=self.clock(), title=title,
                  active=active)


class QueueConfigPusher:
    """Writes the database's queue configuration into Asterisk over AMI."""

    def __init__(self, service: QueueService, ami: AmiClient) -> None:
        self.service = service
        self.ami = ami
        self.pushes = 0
        self.last_error: str | None = None

    async def push(self) -> None:
        import asyncio

        queues = await asyncio.to_thread(self.service.queues)
        try:
            await self.ami.send_action({"Action": "CreateConfig", "Filename": CONFIG_FILE})
            current = await self.ami.send_action({"Action": "GetConfig",
                                                  "Filename": CONFIG_FILE})
            old = [str(v) for k, v in dict(current).items() if k.startswith("Category-")]
            # AMI takes at most 128 header lines per message: several UpdateConfig actions
            steps: list[dict[str, str]] = [{"Action": "DelCat", "Cat": c} for c in old]
            for queue in queues:
                if not queue.active:
                    continue
                steps.append({"Action": "NewCat", "Cat": queue.name})
                steps.extend({"Action": "Append", "Cat": queue.name, "Var": var, "Value": value}
                             for var, value in asterisk_params(queue))
            for chunk in _chunks(steps, MAX_HEADERS):
                action: dict[str, Any] = {"Action": "UpdateConfig", "SrcFilename": CONFIG_FILE,
                                          "DstFilename": CONFIG_FILE, "Reload": "no"}
                for n, step in enumerate(chunk):
                    for key, value in step.items():
                        action[f"{key}-{n:06d}"] = value
                response = await self.ami.send_action(action, timeout=10)
                if str(response.get("Response")) != "Success":
                    raise ConfigError(f"UpdateConfig failed: {response.get('Message')}")
            # = `queue reload parameters` (no CLI rights needed: the AMI account has none)
            await self.ami.send_action({"Action": "QueueReload", "Parameters": "yes"},
                                       timeout=10)
            for queue in queues:
                # the hotline-record dialplan records a queue's agent calls when this is 1
                await self.ami.send_action({"Action": "DBPut", "Family": ASTDB_FAMILY,
                                            "Key": f"{queue.name}-record",
                                            "Val": "1" if queue.active and queue.record
                                            else "0"})
                key = f"{queue.name}-overflow"
                if queue.active and queue.overflow_to:
                    await self.ami.send_action({"Action": "DBPut", "Family": ASTDB_FAMILY,
                                                "Key": key, "Val": queue.overflow_to})
                    await self.ami.send_action({"Action": "DBPut", "Family": ASTDB_FAMILY,
                                                "Key": f"{queue.name}-after",
                                                "Val": str(queue.overflow_after_s)})
                else:
                    await self.ami.send_action({"Action": "DBDel", "Family": ASTDB_FAMILY,
                                                "Key": key})
        except Exception as exc:
            self.last_error = str(exc)
            raise
        self.pushes += 1
        self.last_error = None
        log.info("queue configuration pushed to Asterisk (%d queues)", len(queues))
