"""Files of the on-disk cache (`var/kb-cache`): written atomically, old versions pruned."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_LOG = logging.getLogger(__name__)

STALE_CACHE_S = 3600
"""Files of the same kind older than a newly written one by this much are removed."""


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> bool:
    """Write `path` through a temporary file and a rename, so that readers never see half a
    file; then prune the files of the same kind (`<kind>-*<suffix>`) that are older than it
    by `STALE_CACHE_S`. A failure is logged, not raised (a cache that cannot be written
    only costs a rebuild next time); returns whether the file was written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        kind = path.name.split("-", 1)[0]
        newest = path.stat().st_mtime
        for old in path.parent.glob(f"{kind}-*{path.suffix}"):
            if old != path and old.stat().st_mtime < newest - STALE_CACHE_S:
                old.unlink(missing_ok=True)
    except OSError as exc:
        _LOG.warning("cannot write cache file %s: %s", path, exc)
        return False
    return True
