"""`hotline demo seed-ivr`: demo data for the IVR's self-services."""

from __future__ import annotations

import json

import typer

from callcenter.settings import clock_of, get_settings

app = typer.Typer(help="Demo data.", no_args_is_help=True)


@app.command("seed-ivr")
def seed_ivr(days: int = typer.Option(10, min=1, max=60, help="Working days of slots.")) -> None:
    """Seed demo invoices, taxpayers (PIN 123456 / 654321), halls and booking slots."""
    from callcenter.db import Database
    from callcenter.migrate import upgrade
    from callcenter.selfservice.services import seed_demo
    from ivr.calendar import ServiceCalendar

    settings = get_settings()
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        counts = seed_demo(db, ServiceCalendar.load(settings.hours_file), clock_of(settings),
                           days=days)
    finally:
        db.dispose()
    typer.echo(json.dumps(counts))
