"""The `hotline` console script: one entry point for every command of the project."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from callcenter.settings import Settings, get_settings

app = typer.Typer(help="12366 hotline: IVR and call-center backend.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
# The other domains' command groups, each imported only where the command line names it
# (command_line): `hotline kb search` took 2.9-3.8 user CPU-s importing every group, 2.2-2.5
# with its own only; `hotline serve` and `hotline pbx` import none.
GROUPS: dict[str, str] = {
    "kb": "callcenter.kb.cli",
    "demo": "callcenter.selfservice.cli",  # with `demo seed` of callcenter.stats.cli
    "stats": "callcenter.stats.cli",
    "users": "callcenter.auth.cli",
    "sms": "callcenter.sms.cli",
    "recordings": "callcenter.recordings.cli",
}
pbx_app = typer.Typer(help="The local sandboxed Asterisk (root + Debian).", no_args_is_help=True)
app.add_typer(pbx_app, name="pbx")
prompts_app = typer.Typer(help="Prompt audio under sounds/.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
menu_app = typer.Typer(help="The voice menu.", no_args_is_help=True)
app.add_typer(menu_app, name="menu")


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
    workers: Annotated[int, typer.Option(
        min=1, help="API worker processes (more than one needs HOTLINE_REDIS_URL).")] = 1,
) -> None:
    """Run the HTTP API and the AMI bridge in one process; with HOTLINE_REDIS_URL, only the
    stateless API (any number of workers), each Asterisk node having its `hotline bridge`
    (docs/deployment.md).

    Refuses to start (exit 2) with a shipped default secret when bound to anything but
    loopback or with HOTLINE_ENV=production (docs/security.md), before it imports the app:
    a refusal took 5.7 CPU-s on a slow machine with the app imported first, 1.9 now."""
    from callcenter.settings import deployment_problems

    _logging()
    settings = get_settings()
    problems = deployment_problems(settings, host)
    if problems:
        for problem in problems:
            typer.echo(f"refusing to start: {problem}", err=True)
        raise typer.Exit(2)
    if workers > 1 and not settings.redis_url:
        typer.echo("refusing to start: --workers above 1 needs HOTLINE_REDIS_URL (the workers "
                   "share notifications, sessions and the bridges through Redis)", err=True)
        raise typer.Exit(2)
    import uvicorn

    from callcenter.app import create_app
    from callcenter.migrate import upgrade

    if migrate_first:
        upgrade(settings.database_url)
    if workers > 1:  # each worker builds the app from the same environment
        uvicorn.run("callcenter.app:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level="info")
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def bridge(
    node: Annotated[str, typer.Option(
        help="The Asterisk node this bridge drives (agents with this users.node).")] = "",
) -> None:
    """Run the bridge of one Asterisk node (HOTLINE_AMI_*): its AMI connection, IVR sessions,
    contact log and agent desk, taking the API's commands over Redis (HOTLINE_REDIS_URL).
    One per node; a second for the same node waits for the first's claim and then exits 1."""
    import re

    from callcenter.agents.commands import NodeTaken
    from callcenter.roles import run_bridge
    from callcenter.settings import clock_of, deployment_problems

    _logging()
    settings = get_settings()
    node = node or settings.node
    if not re.match(r"^[A-Za-z0-9_-]{1,32}$", node):
        typer.echo("--node: letters, digits, _ and -, at most 32", err=True)
        raise typer.Exit(2)
    if not settings.redis_url:
        typer.echo("refusing to start: `hotline bridge` needs HOTLINE_REDIS_URL (without "
                   "Redis, `hotline serve` runs the bridge itself)", err=True)
        raise typer.Exit(2)
    # production: no default AMI secret (checked as for a process holding the AMI connection)
    problems = deployment_problems(settings.model_copy(update={"redis_url": None}), "127.0.0.1")
    if problems:
        for problem in problems:
            typer.echo(f"refusing to start: {problem}", err=True)
        raise typer.Exit(2)
    try:
        asyncio.run(run_bridge(settings, node, clock_of(settings)))
    except NodeTaken as exc:
        typer.echo(f"refusing to start: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from callcenter.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"database at head: {settings.database_url}")


# -- pbx ---------------------------------------------------------------------------------


def sandbox_for(settings: Settings) -> Any:
    from ivr.pbx.sandbox import AsteriskSandbox, PbxCredentials, PbxPorts

    return AsteriskSandbox(
        settings.pbx_state_dir, settings.sounds_dir, settings.recordings_dir,
        ports=PbxPorts(ami=settings.ami_port, sip=settings.pbx_sip_port,
                       rtp_start=settings.pbx_rtp_start, rtp_end=settings.pbx_rtp_end),
        credentials=PbxCredentials(ami_user=settings.ami_user, ami_secret=settings.ami_secret,
                                   dial_user=settings.ami_dial_user,
                                   dial_secret=settings.ami_dial_secret),
    )


@pbx_app.command("start")
def pbx_start(
    optional: Annotated[bool, typer.Option(
        help="Only warn (exit 0) when this machine cannot host the sandbox.")] = False,
) -> None:
    """Provision (cached) and start the sandboxed Asterisk; waits for FullyBooted."""
    from ivr.pbx.sandbox import SandboxError, host_support

    _logging()
    reason = host_support()
    if reason:
        message = (f"Asterisk sandbox not started: {reason}.\nPoint the bridge at an existing "
                   "Asterisk instead: HOTLINE_AMI_HOST, HOTLINE_AMI_PORT, HOTLINE_AMI_USER, "
                   "HOTLINE_AMI_SECRET (see README).")
        typer.echo(message, err=True)
        raise typer.Exit(0 if optional else 1)
    sandbox = sandbox_for(get_settings())
    try:
        pid = sandbox.start()
    except SandboxError as exc:
        typer.echo(f"Asterisk sandbox failed: {exc}", err=True)
        raise typer.Exit(0 if optional else 1) from exc
    typer.echo(f"Asterisk running (pid {pid}); AMI 127.0.0.1:{sandbox.ports.ami}, "
               f"SIP 127.0.0.1:{sandbox.ports.sip}")


@pbx_app.command("stop")
def pbx_stop() -> None:
    """Stop the sandboxed Asterisk (by its PID)."""
    sandbox = sandbox_for(get_settings())
    typer.echo("stopped" if sandbox.stop() else "not running")


@pbx_app.command("status")
def pbx_status() -> None:
    """Show whether the sandboxed Asterisk runs."""
    sandbox = sandbox_for(get_settings())
    status = sandbox.status()
    typer.echo(json.dumps(status, indent=1))
    raise typer.Exit(0 if status["running"] else 3)


def _server_bridge_ready(port: int) -> bool:
    import httpx

    try:
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
        return bool(response.json()["checks"]["ami"]["ok"])
    except (httpx.HTTPError, KeyError, ValueError):
        return False


@pbx_app.command("call")
def pbx_call(
    service: Annotated[str, typer.Argument(help="Number to dial.")] = "12366",
    digits: Annotated[str, typer.Option(
        help="Keys to press after the welcome, one per menu level.")] = "111",
    mode: Annotated[str, typer.Option(help="DTMF as rfc2833 or info.")] = "rfc2833",
    number: Annotated[str, typer.Option(help="Caller number.")] = "13800138000",
    wait_ms: Annotated[int, typer.Option(help="Pause before the first key.")] = 6000,
    agent: Annotated[bool, typer.Option(
        help="Log in a scripted agent phone to the consult queue for this call.")] = True,
    http_port: Annotated[int, typer.Option(help="Port of a running `hotline serve`.")] = 8000,
    caller_port: Annotated[int, typer.Option(
        min=0, max=65535,
        help="Local SIP port of the scripted caller (another one for a second call placed "
             "while the first is under way; 0: the sandbox's caller port).")] = 0,
) -> None:
    """Place a scripted SIPp call into the sandbox and print the resulting contact."""
    from ivr.pbx.sipp import Dtmf, Pause, SippRunner

    _logging()
    settings = get_settings()
    sandbox = sandbox_for(settings)
    if not sandbox.is_running():
        typer.echo("the sandboxed Asterisk is not running: `hotline pbx start` first", err=True)
        raise typer.Exit(1)
    if mode not in ("rfc2833", "info"):
        raise typer.BadParameter("mode is rfc2833 or info")
    steps: list[Any] = [Pause(wait_ms)]
    if digits:
        # one key per menu level, 1.5 s apart, whatever plays: keys pressed ahead of a menu
        # (during the welcome or a notice) are kept for it (type-ahead); a replayed RFC 2833
        # capture is the same RTP event each time and Asterisk drops repeats, so only the
        # first key goes as RFC 2833, the others as SIP INFO
        steps.append(Dtmf(digits[0], mode="info" if mode == "info" else "rfc2833",
                          gap_ms=1500))
        if digits[1:]:
            steps.append(Dtmf(digits[1:], mode="info", gap_ms=1500))
    runner = SippRunner(sandbox.root, sandbox.ports.sip)
    contact = asyncio.run(_place_call(settings, runner, steps, number, service, agent,
                                      _server_bridge_ready(http_port),
                                      caller_port or sandbox.ports.caller))
    typer.echo(json.dumps(contact, ensure_ascii=False, indent=1, default=str))


async def _place_call(settings: Settings, runner: Any, steps: list[Any], number: str,
                      service: str, with_agent: bool, server_running: bool, caller_port: int
                      ) -> dict[str, Any]:
    from callcenter.contacts.schemas import ContactDetail
    from callcenter.contacts.services import ContactFilters, ContactService
    from callcenter.db import Database
    from callcenter.migrate import upgrade
    from callcenter.runtime import Runtime, ami_client, load_shared
    from callcenter.settings import clock_of

    upgrade(settings.database_url)
    db = Database(settings.database_url)
    contacts = ContactService(db)
    # this call's contact is the caller's first one after those already logged
    _total, before = contacts.search(ContactFilters(caller=number), limit=1)
    last_id = before[0].id if before else 0
    ports = sandbox_for(settings).ports
    runtime: Runtime | None = None
    if server_running:  # the server's bridge serves the call; this command only uses AMI
        ami = ami_client(settings)
        await ami.start()
    else:
        clock = clock_of(settings)
        shared = await asyncio.to_thread(load_shared, settings, db, clock)
        runtime = Runtime.build(settings, contacts, clock, shared)
        await runtime.start()
        assert runtime.ami is not None
        ami = runtime.ami
    await ami.wait_ready(15)
    agent_proc = None
    member = "PJSIP/agent1"
    try:
        if with_agent:
            agent_proc = runner.start_agent(ports.agent(1), ring_ms=1000, talk_ms=4000)
            await ami.send_action({"Action": "QueueAdd", "Queue": "consult",
                                   "Interface": member, "MemberName": "agent1"})
        result = await asyncio.to_thread(runner.call, steps, caller_port, number, service, 180)
        if not result.ok:
            typer.echo(f"SIPp reported a failure (exit {result.returncode}):\n"
                       f"{result.stderr[-2000:]}", err=True)
        await asyncio.sleep(1.0)
        if runtime is not None:
            await runtime.contact_log.flush()
    finally:
        if with_agent:
            try:
                await ami.send_action({"Action": "QueueRemove", "Queue": "consult",
                                       "Interface": member})
            except Exception:
                logging.getLogger(__name__).warning("QueueRemove failed", exc_info=True)
            if agent_proc is not None:
                runner.stop(agent_proc)
        if runtime is not None:
            await runtime.stop()
        else:
            await ami.close()
    for _ in range(20):
        _total, rows = contacts.search(ContactFilters(caller=number), limit=1)
        if rows and rows[0].id > last_id and rows[0].ended_at:
            detail = contacts.get(rows[0].id)
            db.dispose()
            return ContactDetail.model_validate(detail).model_dump(mode="json")
        await asyncio.sleep(0.5)
    db.dispose()
    return {"error": "no contact was logged for this call; is the bridge running?"}


# -- prompts and menu ---------------------------------------------------------------------


@prompts_app.command("render")
def prompts_render(
    force: Annotated[bool, typer.Option(help="Render every prompt again.")] = False,
    answers: Annotated[bool, typer.Option(
        help="Also render the knowledge base's answers (sounds/zh/kb, not committed).")] = True,
    files: Annotated[bool, typer.Option(
        "--files", help="The answers of the data files (HOTLINE_KB_DATA_DIR) instead of the "
                        "database's live knowledge base.")] = False,
) -> None:
    """Render the prompt catalogue into sounds/zh and the music on hold into sounds/moh, and
    the live knowledge base's answers into sounds/zh/kb (only what changed)."""
    from callcenter.settings import clock_of
    from ivr.clock import local_date
    from ivr.prompts.catalogue import load_catalogue, render
    from ivr.prompts.music import render_music

    settings = get_settings()
    report = render(load_catalogue(), settings.sounds_dir, force=force, voice=settings.tts_voice)
    typer.echo(f"voice {settings.tts_voice}: rendered {len(report.rendered)}, unchanged "
               f"{len(report.unchanged)}, removed {len(report.removed)} -> {settings.sounds_dir}")
    moh_dir = settings.sounds_dir.parent / "moh"
    music = render_music(moh_dir, force=force)
    typer.echo(f"music on hold: {'rendered' if music else 'unchanged'} -> {moh_dir}")
    if answers:  # the knowledge base's answers, cached by text hash in sounds/zh/kb/
        from callcenter.kb.cli import live_source
        from ivr.prompts.answers import AnswerAudio
        from knowledge_base import KnowledgeBase, KnowledgeBaseError

        try:  # the live knowledge base (the database's), as the running system serves it
            kb = KnowledgeBase.load(settings.kb_data_dir, cache_dir=settings.kb_cache_dir,
                                    clock=local_date(clock_of(settings), settings.timezone),
                                    source=None if files else live_source(settings))
        except KnowledgeBaseError as exc:
            typer.echo(f"answers not rendered: {exc}", err=True)
            raise typer.Exit(1) from exc
        # the answers, and the questions the confirm prompt speaks
        sync = AnswerAudio(settings.sounds_dir, settings.tts_voice).sync(
            text for e in kb.entries() for text in (e.answer, e.question))
        typer.echo(f"answers: rendered {sync.rendered}, unchanged {sync.unchanged}, "
                   f"removed {sync.removed} -> {settings.sounds_dir / 'kb'}")


@prompts_app.command("speakable")
def prompts_speakable(
    texts: Annotated[list[str] | None, typer.Argument(
        help="Texts to read; without any, one per line from standard input.")] = None,
) -> None:
    """Print how each text is read aloud (numbers, codes, signs, abbreviations in words)."""
    from ivr.prompts.spoken import speakable

    if texts:
        for text in texts:
            typer.echo(speakable(text))
        return
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            typer.echo(f"line {number} of standard input is not UTF-8 text: {exc.reason} "
                       f"at byte {exc.start}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(speakable(line))
        sys.stdout.flush()


@menu_app.command("check")
def menu_check(path: Annotated[Path, typer.Argument(help="Menu YAML file.")]) -> None:
    """Validate a menu file and print its tree."""
    from ivr.menu.loader import MenuError, load_menu
    from ivr.prompts.catalogue import load_catalogue

    try:
        menu = load_menu(path)
    except MenuError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:
        typer.echo(f"{path}: {exc.strerror}", err=True)
        raise typer.Exit(1) from exc
    from ivr.services.handlers import SERVICE_PROMPTS

    missing = sorted((menu.prompts() | SERVICE_PROMPTS) - set(load_catalogue()))
    for prompt in missing:
        typer.echo(f"{path}: prompt {prompt!r} is not in the prompt catalogue", err=True)
    seen: set[str] = set()
    _print_tree(menu, menu.start, 0, seen)
    for entry, node_id in menu.entries.items():  # calls coming back from the dialplan
        typer.echo(f"entry {entry}:")
        _print_tree(menu, node_id, 1, seen)
    raise typer.Exit(1 if missing else 0)


def _print_tree(menu: Any, node_id: str, depth: int, seen: set[str], key: str = "") -> None:
    node = menu.nodes[node_id]
    label = f"[{key}] " if key else ""
    if node_id in seen:
        typer.echo("  " * depth + f"{label}{node_id} (see above)")
        return
    seen.add(node_id)
    extra = f" -> queue {node.queue}" if node.type == "transfer" else ""
    typer.echo("  " * depth + f"{label}{node_id} ({node.type}){extra}")
    from ivr.menu.schema import node_targets

    for field_name, target in node_targets(node):
        label_of = field_name.split(".", 1)[-1] if field_name.startswith("options.") else field_name
        _print_tree(menu, target, depth + 1, seen, label_of)


def command_line(argv: Sequence[str] | None = None) -> typer.Typer:
    """The `hotline` command line with the groups of ``GROUPS`` that ``argv`` (the arguments
    after the program's name) can reach: the one it names, none for a command of this module,
    all of them otherwise (``--help``, a mistyped name: the full list is shown) and when
    ``argv`` is None (tests invoking any command)."""
    first = next((arg for arg in argv if not arg.startswith("-")), None) if argv else None
    added = {g.name for g in app.registered_groups}
    own = added | {(c.name or (c.callback.__name__ if c.callback else "")).replace("_", "-")
                   for c in app.registered_commands}
    if first in GROUPS:
        names: Sequence[str] = [first]
    elif first in own:
        names = []
    else:
        names = list(GROUPS)
    for name in names:
        if name in added:
            continue
        group: typer.Typer = importlib.import_module(GROUPS[name]).app
        if name == "demo":  # hotline demo seed --contacts N (statistics history)
            from callcenter.stats.cli import register_demo

            register_demo(group)
        app.add_typer(group, name=name)
    return app


def main() -> None:
    try:
        command_line(sys.argv[1:])()
    except KeyboardInterrupt:
        sys.exit(130)
