"""A stage's first write, seen before it is sent: shared-object locks taken only when needed.

In a batch, a stage that may write an object other sets write too (see :mod:`oktalab.shared`)
must hold that object's lock while it writes. Most runs are re-runs that write nothing, so
holding the lock for the whole stage made sets on one ``default`` authorization server or one
``ExtAuthPolicy`` wait for each other's reads: with 100 ms per Okta request, a 16-set batch
held those locks 29 s of its 29.5 s.

So the stage first runs without the locks, inside :func:`gated`. Every write path calls
:func:`before_write` before anything leaves the process: an Okta management request that is
not a read, a Kubernetes request that is not a read or a ``dryRun=All``, and any change to the
set's ledger (which records an intent before a create). Inside :func:`gated` that raises
:class:`NeedsWrite` instead; the caller (``run_stage``) then starts the stage again from the
beginning, holding the locks, with a fresh context. Nothing was written in the first pass, so
the second one sees the same world a locked stage would have seen. A stage that writes
nothing finishes in the first pass and never takes a lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_gated = False


class NeedsWrite(BaseException):
    """Raised by :func:`before_write` inside :func:`gated`. A ``BaseException``, so that a
    stage's own ``except Exception`` (which turns errors into failed rows) lets it through."""


def before_write(what: str) -> None:
    """Call before sending a write or recording one; ``what`` says which (for the row).

    Raises:
        NeedsWrite: inside :func:`gated` (the stage runs without its locks).
    """
    if _gated:
        raise NeedsWrite(what)


@contextlib.contextmanager
def gated() -> Iterator[None]:
    """Writes raise :class:`NeedsWrite` while the block runs (one stage per kernel process)."""
    global _gated
    _gated = True
    try:
        yield
    finally:
        _gated = False
