"""Crash points for tests: ``OKTALAB_FAILPOINT=<name>`` kills this process at that point.

Ownership must survive a crash at any instant (intent recorded before a create call,
reconciled after). Tests prove it by killing a real process with SIGKILL exactly where a
crash hurts most, for example right after Okta answered a create and before the ledger
records the id (``after-create:okta_app``). Nothing happens unless the variable names the
point, so production runs only pay one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "OKTALAB_FAILPOINT"


def failpoint(name: str) -> None:
    """SIGKILL the current process when ``$OKTALAB_FAILPOINT`` equals ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
