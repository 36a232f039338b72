"""``hotline sms start|stop|status|simulate``: the local Kannel gateway and a simulated phone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

import typer

from callcenter.db import Database
from callcenter.settings import Settings, clock_of, get_settings
from callcenter.sms.gateway import GatewayError, KannelGateway, SmsPorts, host_support
from callcenter.sms.reminders import JobError, ReminderJobs
from callcenter.sms.services import sms_service_for

app = typer.Typer(help="SMS through the local Kannel gateway (bearerbox, smsbox, fakesmsc).",
                  no_args_is_help=True)


def gateway_for(settings: Settings) -> KannelGateway:
    return KannelGateway(settings.sms_state_dir, SmsPorts(settings.sms_port_base),
                         app_url=settings.sms_app_url, key=settings.sms_gateway_key,
                         sendsms_password=settings.sms_sendsms_password,
                         service_number=settings.sms_service_number,
                         smsc_conf=settings.sms_smsc_conf)


@app.command("start")
def start(
    optional: Annotated[bool, typer.Option(
        help="Only warn (exit 0) when this machine cannot run Kannel.")] = False,
) -> None:
    """Write the Kannel configuration into the state directory and start bearerbox, smsbox
    and the simulated SMSC on loopback."""
    reason = host_support()
    if reason:
        typer.echo(f"SMS gateway not started: {reason}", err=True)
        raise typer.Exit(0 if optional else 1)
    try:
        gateway = gateway_for(get_settings())
        pids = gateway.start()
    except GatewayError as exc:
        typer.echo(f"SMS gateway failed: {exc}", err=True)
        raise typer.Exit(0 if optional else 1) from exc
    typer.echo(f"Kannel running ({', '.join(f'{k} {v}' for k, v in pids.items())}); "
               f"sendsms 127.0.0.1:{gateway.ports.sendsms}, texts to {gateway.app_url}")


@app.command("stop")
def stop() -> None:
    """Stop the gateway's processes (by their PIDs)."""
    typer.echo("stopped" if gateway_for(get_settings()).stop() else "not running")


@app.command("status")
def status() -> None:
    """Show whether the gateway runs (exit 3 when not)."""
    state = gateway_for(get_settings()).status()
    typer.echo(json.dumps(state, ensure_ascii=False, indent=1))
    raise typer.Exit(0 if state["running"] else 3)


@app.command("simulate")
def simulate(
    text: Annotated[str, typer.Option("--text", help="The text the phone sends.")],
    sender: Annotated[str, typer.Option("--from", help="The phone's number.")] = "13800138000",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the reply.")] = 20.0,
) -> None:
    """Send a text from a simulated phone through the running gateway (fakesmsc) and print
    the replies as that phone receives them. Needs `hotline sms start` and `hotline serve`."""
    gateway = gateway_for(get_settings())
    try:
        conversation = gateway.converse(sender, text, timeout=timeout)
    except (GatewayError, ValueError) as exc:
        typer.echo(f"simulate: {exc}", err=True)
        raise typer.Exit(1) from exc
    for reply in conversation.replies:
        typer.echo(f"[{reply.sender} -> {sender}, {reply.segments} "
                   f"{'segment' if reply.segments == 1 else 'segments'}] {reply.text}")
    typer.echo(f"first segment after {conversation.first_s:.2f} s, last after "
               f"{conversation.last_s:.2f} s", err=True)


remind = typer.Typer(help="Bulk reminders to the subscribers of a topic (deadline, policy).",
                     no_args_is_help=True)
app.add_typer(remind, name="remind")


def _jobs() -> tuple[ReminderJobs, Database]:
    settings = get_settings()
    db = Database(settings.database_url)
    sms = sms_service_for(db, clock_of(settings), settings, kb=None, tickets=None)
    return ReminderJobs(sms, settle=timedelta(seconds=settings.sms_remind_settle_s)), db


def _job_command(action: Callable[[ReminderJobs], None]) -> None:
    jobs, db = _jobs()
    try:
        action(jobs)
    except JobError as exc:
        typer.echo(f"remind: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()


@remind.command("create")
def remind_create(
    topic: Annotated[str, typer.Option(help="deadline | policy")],
    text: Annotated[str, typer.Option(help="The reminder text (Chinese, short).")],
    tax: Annotated[str | None, typer.Option(
        help="A deadline of one tax (vat, cit, iit, stamp, property, ssc): also its "
             "subscribers.")] = None,
) -> None:
    """Create a job: one text to every subscriber of the topic who has not opted out."""
    def action(jobs: ReminderJobs) -> None:
        job_id = jobs.create(topic, text, tax)
        typer.echo(f"job {job_id}: {jobs.progress(job_id).total} recipients")
    _job_command(action)


@remind.command("run")
def remind_run(
    job: Annotated[int, typer.Argument(help="The job's id.")],
    every: Annotated[int, typer.Option(help="Print the progress every N texts.")] = 500,
) -> None:
    """Send the job's pending texts (needs the gateway, and `hotline serve` for the delivery
    reports); stops when paused; run it again after a crash: nothing is sent twice."""
    def action(jobs: ReminderJobs) -> None:
        final = asyncio.run(jobs.run(job, progress=lambda p: typer.echo(p.line()),
                                     every=every))
        if final.status not in ("done", "paused"):
            raise typer.Exit(1)
    _job_command(action)


@remind.command("pause")
def remind_pause(job: Annotated[int, typer.Argument(help="The job's id.")]) -> None:
    """Pause a job: its `run` stops after the text it is sending."""
    def action(jobs: ReminderJobs) -> None:
        jobs.pause(job)
        typer.echo(f"job {job} paused")
    _job_command(action)


@remind.command("resume")
def remind_resume(job: Annotated[int, typer.Argument(help="The job's id.")]) -> None:
    """Let a paused job go on (then `hotline sms remind run JOB`)."""
    def action(jobs: ReminderJobs) -> None:
        jobs.resume(job)
        typer.echo(f"job {job} ready")
    _job_command(action)


@remind.command("status")
def remind_status(
    job: Annotated[int, typer.Argument(help="The job's id.")],
    recipients: Annotated[int, typer.Option(
        help="Also list the first N recipients with their status.")] = 0,
) -> None:
    """A job's progress, and per recipient its status and its text's delivery."""
    def action(jobs: ReminderJobs) -> None:
        typer.echo(jobs.progress(job).line())
        for number, status, delivery in jobs.recipients(job, recipients) if recipients else []:
            typer.echo(f"{number}\t{status}\t{delivery or '-'}")
    _job_command(action)
