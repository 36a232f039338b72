"""``hotline sms start|stop|status|simulate``: the local Kannel gateway and a simulated phone."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from callcenter.settings import Settings, get_settings
from callcenter.sms.gateway import GatewayError, KannelGateway, SmsPorts, host_support

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
