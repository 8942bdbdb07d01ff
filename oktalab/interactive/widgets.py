"""Small display helpers shared by the tabs of the start notebook (IPython, message lines)."""

from __future__ import annotations

import html
from typing import Any


def _ipython(*names: str) -> tuple[Any, ...]:
    """Names from ``IPython.display`` (untyped upstream, hence ``Any``)."""
    import IPython.display

    return tuple(getattr(IPython.display, n) for n in names)


def _problem_html(msgs: list[str]) -> str:
    return "".join(
        f'<div style="color:#b02a37;font-size:12px">{html.escape(m)}</div>' for m in msgs
    )
