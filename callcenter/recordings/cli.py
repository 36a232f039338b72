"""``hotline recordings ...``: the retention job."""

from __future__ import annotations

import json

import typer

from callcenter.settings import clock_of, get_settings

app = typer.Typer(help="Recordings of agent calls and voice messages.", no_args_is_help=True)


@app.command("purge")
def purge() -> None:
    """Delete recordings (file and row) older than HOTLINE_RECORDINGS_RETENTION_DAYS; run it
    daily (cron or a systemd timer)."""
    from callcenter.db import Database
    from callcenter.recordings.services import recording_service

    settings = get_settings()
    db = Database(settings.database_url)
    try:
        result = recording_service(settings, db, clock_of(settings)).purge()
    finally:
        db.dispose()
    typer.echo(json.dumps({"cutoff": result.cutoff.isoformat(), "rows": result.rows,
                           "files": result.files}))
