"""Result rows: one per resource touched or check made, and the reports built from them."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Action = Literal[
    "created", "updated", "unchanged", "deleted", "checked", "planned", "adopted", "restored"
]
Status = Literal["ok", "failed", "skipped"]
ACTIONS = frozenset(
    ("created", "updated", "unchanged", "deleted", "checked", "planned", "adopted", "restored")
)
STATUSES = frozenset(("ok", "failed", "skipped"))
COLUMNS = [
    "parameter_set",
    "stage",
    "step",
    "kind",
    "name",
    "action",
    "status",
    "detail",
    "seconds",
]


@dataclass
class Row:
    """One line of the results table."""

    stage: str
    step: str
    kind: str
    name: str
    action: Action
    status: Status = "ok"
    detail: str = ""
    seconds: float = 0.0
    parameter_set: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(float(d["seconds"]), 3)
        return {k: d[k] for k in COLUMNS}


@dataclass
class StageResult:
    """What a stage returns: its rows plus values later stages use (never secrets)."""

    stage: str
    parameter_set: str
    rows: list[Row] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        step: str,
        kind: str,
        name: str,
        action: str,
        status: str = "ok",
        detail: str = "",
        seconds: float = 0.0,
    ) -> Row:
        """Append a row; ``action`` and ``status`` must come from the results contract."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {sorted(ACTIONS)}, got {action!r}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, got {status!r}")
        row = Row(self.stage, step, kind, name, action, status, detail, seconds, self.parameter_set)  # type: ignore[arg-type]
        self.rows.append(row)
        return row

    @contextmanager
    def timed(self) -> Iterator[dict[str, float]]:
        """Measure a step: ``with result.timed() as t: ...; result.add(..., seconds=t['s'])``."""
        box = {"s": 0.0}
        t0 = time.perf_counter()
        try:
            yield box
        finally:
            box["s"] = time.perf_counter() - t0

    @property
    def ok(self) -> bool:
        return all(r.status != "failed" for r in self.rows)

    def raise_for_status(self) -> None:
        """Raise StageFailed when a row failed (the last cell of a notebook, for papermill)."""
        failed = [r for r in self.rows if r.status == "failed"]
        if failed:
            from .errors import StageFailed

            raise StageFailed(
                self.stage, "; ".join(f"{r.step} {r.name}: {r.detail}" for r in failed[:5])
            )

    def table(self) -> Any:
        """A pandas DataFrame (styled in notebooks by :func:`style`)."""
        return to_frame(self.rows)

    def _repr_html_(self) -> str:
        return style(self.table())._repr_html_()


def to_frame(rows: list[Row] | list[dict[str, Any]]) -> Any:
    import pandas as pd

    data = [r.as_dict() if isinstance(r, Row) else r for r in rows]
    return pd.DataFrame(data, columns=COLUMNS)


def style(frame: Any) -> Any:
    """Colour the status column: green ok, red failed, grey skipped."""
    colours = {"ok": "#d4edda", "failed": "#f8d7da", "skipped": "#e2e3e5"}

    def paint(col: Any) -> list[str]:
        return [f"background-color: {colours.get(v, '')}" for v in col]

    return (
        frame.style.apply(paint, subset=["status"])
        .format({"seconds": "{:.3f}"})
        .set_properties(**{"text-align": "left"})
        .hide(axis="index")
    )


def write_rows(path: Path, rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.as_dict() for r in rows], indent=1))


def read_rows(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.is_file() else []


def stage_status(rows: list[dict[str, Any]]) -> Status:
    """A stage's status from its rows: failed if any failed, skipped if all (or none) skipped."""
    if any(r["status"] == "failed" for r in rows):
        return "failed"
    if not rows or all(r["status"] == "skipped" for r in rows):
        return "skipped"
    return "ok"


def write_reports(
    out_dir: Path,
    rows: list[dict[str, Any]],
    *,
    title: str = "oktalab results",
    meta: dict[str, Any] | None = None,
    stages: list[dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write results.json, results.csv, run.json and report.html into ``out_dir``.

    ``meta`` is the run's header (when, target, versions, wall time; never a secret) and
    ``stages`` one entry per stage run (status, seconds incl. kernel start, notebook);
    see :mod:`oktalab.report` for the HTML page.
    """
    from .report import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "results.json",
        "csv": out_dir / "results.csv",
        "run": out_dir / "run.json",
        "html": out_dir / "report.html",
    }
    paths["json"].write_text(json.dumps(rows, indent=1))
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    meta = dict(meta or {})
    meta["stages"] = stages or []
    paths["run"].write_text(json.dumps(meta, indent=1))
    paths["html"].write_text(render_report(out_dir, rows, meta, title=title))
    return paths


# The console table: at most this wide (the full rows are in results.json/csv and the report).
TABLE_WIDTH = 120
_TABLE_COLUMNS = [
    # (column, header, minimum width)
    ("parameter_set", "set", 8),
    ("stage", "stage", 8),
    ("step", "step", 10),
    ("name", "name", 12),
    ("action", "action", 9),
    ("status", "status", 7),
    ("seconds", "seconds", 7),
    ("detail", "detail", 16),
]


def _clip_cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def format_table(rows: list[dict[str, Any]], width: int = TABLE_WIDTH) -> str:
    """A plain-text table for the terminal, at most ``width`` columns wide.

    Long cells are cut with ``…`` (widest column first, never below its minimum); ``kind``
    is left out. The full rows are in the files.
    """
    cols = [c for c, _, _ in _TABLE_COLUMNS]
    heads = [h for _, h, _ in _TABLE_COLUMNS]
    mins = [m for _, _, m in _TABLE_COLUMNS]
    cells = [[" ".join(str(r.get(c, "")).split()) for c in cols] for r in rows]
    widths = [max([len(h)] + [len(line[i]) for line in cells]) for i, h in enumerate(heads)]
    gap = 2 * (len(cols) - 1)
    while sum(widths) + gap > width:
        shrinkable = [i for i, w in enumerate(widths) if w > max(mins[i], len(heads[i]))]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda k: widths[k])
        widths[i] -= 1
    out = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += [
        "  ".join(_clip_cell(v, w).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    return "\n".join(out)


def format_failures(rows: list[dict[str, Any]], width: int = TABLE_WIDTH) -> str:
    """Each failed row's whole ``detail`` (the table cuts long cells), wrapped to ``width``.

    The detail of a failed row is where a stage says what to do (the repair command, the
    field that differs), so the console never cuts it. Empty when nothing failed.
    """
    import textwrap

    failed = [r for r in rows if r.get("status") == "failed"]
    if not failed:
        return ""
    out = [f"failed ({len(failed)}):"]
    for r in failed:
        head = f"- {r.get('parameter_set', '')} / {r.get('stage', '')} / {r.get('name', '')}: "
        detail = " ".join(str(r.get("detail", "")).split())
        out.append(
            textwrap.fill(
                head + detail, width=width, subsequent_indent="  ", break_on_hyphens=False
            )
        )
    return "\n".join(out)


def plural(n: int, noun: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# Claim names whose values could be replayed or correlate sessions: shown masked in files.
MASKED_CLAIM = re.compile(r"secret|token|password|hash|nonce|jti|sid|code", re.I)


def mask_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Decoded claims for files and reports: secret-like values cut to 4 characters, times
    also shown as UTC, everything else as text (JSON for lists and objects)."""
    import datetime as dt

    out: dict[str, str] = {}
    for k, v in claims.items():
        if MASKED_CLAIM.search(k):
            text = str(v)
            out[k] = f"{text[:4]}… ({len(text)} chars, masked)" if text else ""
        elif k in ("iat", "exp", "auth_time", "nbf") and isinstance(v, int):
            out[k] = f"{v} ({dt.datetime.fromtimestamp(v, dt.UTC):%Y-%m-%d %H:%M:%S} UTC)"
        else:
            out[k] = v if isinstance(v, str) else json.dumps(v)
    return out


def write_claims(path: Path, tokens: dict[str, dict[str, Any]]) -> None:
    """Save decoded claims (never a token) masked by :func:`mask_claims`, for the report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: mask_claims(v) for k, v in tokens.items() if v}, indent=1))


def claims_frame(claims: dict[str, Any]) -> Any:
    """A decoded token as a two-column table (claim, value); times shown as UTC too."""
    import datetime as dt

    import pandas as pd

    rows = []
    for k, v in claims.items():
        shown = v
        if k in ("iat", "exp", "auth_time", "nbf") and isinstance(v, int):
            shown = f"{v} ({dt.datetime.fromtimestamp(v, dt.UTC):%Y-%m-%d %H:%M:%S} UTC)"
        rows.append({"claim": k, "value": shown if isinstance(shown, str) else repr(shown)})
    return pd.DataFrame(rows, columns=["claim", "value"])
