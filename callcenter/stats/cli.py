"""``hotline stats ...`` and ``hotline demo seed``."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from callcenter.settings import clock_of, get_settings

app = typer.Typer(help="Statistics: rollups and reports.", no_args_is_help=True)


@app.command("rebuild")
def rebuild() -> None:
    """Recompute the statistics rollups from the whole contact log (after bulk loads)."""
    from callcenter.db import Database
    from callcenter.stats.services import stats_service_for

    settings = get_settings()
    clock = clock_of(settings)
    db = Database(settings.database_url)
    started = time.perf_counter()
    buckets = stats_service_for(db, settings, clock).rebuild()
    typer.echo(f"rollups rebuilt: {buckets} quarter-hours in {time.perf_counter() - started:.1f} s")
    db.dispose()


@app.command("summary")
def summary(
    start: Annotated[str, typer.Option("--from", help="YYYY-MM-DD or ISO 8601 with offset")],
    end: Annotated[str, typer.Option("--to", help="YYYY-MM-DD (included) or ISO 8601")],
    interval: Annotated[str, typer.Option(help="15min | hour | day | month")] = "day",
    channel: Annotated[str, typer.Option(help="phone | sms | web")] = "phone",
) -> None:
    """Print the summary report (of one channel; every channel's totals in ``channels``) as
    JSON."""
    from callcenter.db import Database
    from callcenter.stats.ranges import Channel, StatsInputError, parse_channel
    from callcenter.stats.services import stats_service_for

    settings = get_settings()
    clock = clock_of(settings)
    db = Database(settings.database_url)
    service = stats_service_for(db, settings, clock)
    try:
        rng = service.range(start, end, interval)
        report = service.summary(rng, parse_channel(channel) or Channel.PHONE)
    except StatsInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    typer.echo(json.dumps(report, ensure_ascii=False, indent=1))


def seed(
    contacts: Annotated[int, typer.Option(min=1, max=20_000_000,
                                          help="How many contacts to generate.")] = 20_000,
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days of history, to today.")] = 365,
    rng_seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 12366,
    agents: Annotated[int, typer.Option(min=1, max=1000, help="Number of agents.")] = 40,
    keep: Annotated[bool, typer.Option(help="Keep earlier demo contacts.")] = False,
    other_share: Annotated[float | None, typer.Option(
        min=0.0, max=0.9, help="Share of 'other' contacts (abandoned, messages...); default "
        "the province's 360 of 277,266.")] = None,
) -> None:
    """Generate a realistic contact history (working hours, lunch dip, filing-season peaks,
    the province's automatic voice : manual ratio) and rebuild the statistics."""
    from callcenter.db import Database
    from callcenter.migrate import upgrade
    from callcenter.stats.demo import seed as run_seed
    from callcenter.stats.services import stats_service_for

    settings = get_settings()
    clock = clock_of(settings)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    started = time.perf_counter()
    result = run_seed(db, contacts, clock=clock, days=days, rng_seed=rng_seed,
                      timezone=settings.timezone,
                      agents=agents, replace=not keep, other_share=other_share,
                      progress=lambda n: typer.echo(f"  {n} contacts", err=True)
                      if n % 100_000 == 0 else None)
    stats_service_for(db, settings, clock).rebuild()
    db.dispose()
    share = {k: f"{v} ({v / result.contacts:.1%})" for k, v in result.by_channel.items()}
    typer.echo(f"seeded {result.contacts} contacts, {result.events} events, "
               f"{result.first:%Y-%m-%d} .. {result.last:%Y-%m-%d} (UTC), "
               f"in {time.perf_counter() - started:.1f} s")
    typer.echo(f"channels: {share}")


def register_demo(demo_app: typer.Typer) -> None:
    """Adds ``seed`` to the ``hotline demo`` command group."""
    demo_app.command("seed")(seed)
