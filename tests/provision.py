"""`python -m tests.provision`: build (cached) and unpack the test Asterisk sandbox, and build
the knowledge base's cache (the encoder's graph, the entries' vectors, the index) once, so that
the parallel workers of the runs load it instead of each building it at the same moment.

With CI=true a machine that cannot host it, or a failed build, fails the run; elsewhere the
reason is printed and the Asterisk tests skip with it.
"""

from __future__ import annotations

import sys
import time

from ivr.pbx.sandbox import SandboxError
from tests.support import in_ci, make_test_sandbox, sandbox_unsupported


def warm_knowledge_base() -> None:
    from knowledge_base import DEFAULT_CACHE_DIR, DEFAULT_DATA_DIR, KnowledgeBase

    started = time.monotonic()
    KnowledgeBase.load(DEFAULT_DATA_DIR, cache_dir=DEFAULT_CACHE_DIR)
    print(f"provision: knowledge base cache ready in {time.monotonic() - started:.1f} s")


def main() -> int:
    warm_knowledge_base()
    reason = sandbox_unsupported()
    if reason:
        print(f"provision: skipped: {reason}", file=sys.stderr)
        return 1 if in_ci() else 0
    started = time.monotonic()
    try:
        make_test_sandbox().provision()
    except SandboxError as exc:
        print(f"provision: FAILED: {exc}", file=sys.stderr)
        return 1 if in_ci() else 0
    print(f"provision: Asterisk sandbox ready in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
