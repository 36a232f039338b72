"""`hotline kb ...` commands (search, validate)."""

from __future__ import annotations

import typer

app = typer.Typer(help="FAQ knowledge base: search and validation.", no_args_is_help=True)
