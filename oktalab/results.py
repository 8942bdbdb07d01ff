"""Result rows: one per resource touched or check made, and the reports built from them."""

from __future__ import annotations

import csv
import html
import json
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


def write_reports(
    out_dir: Path, rows: list[dict[str, Any]], *, title: str = "oktalab results"
) -> dict[str, Path]:
    """Write results.json, results.csv and report.html into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "results.json",
        "csv": out_dir / "results.csv",
        "html": out_dir / "report.html",
    }
    paths["json"].write_text(json.dumps(rows, indent=1))
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    failed = sum(1 for r in rows if r["status"] == "failed")
    colours = {"ok": "#d4edda", "failed": "#f8d7da", "skipped": "#e2e3e5"}
    body = "".join(
        f'<tr style="background:{colours.get(r["status"], "")}">'
        + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in COLUMNS)
        + "</tr>"
        for r in rows
    )
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    verdict = "all checks passed" if not failed else f"{failed} failed"
    paths["html"].write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:3px 6px;font-size:13px}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{len(rows)} rows, {verdict}.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
    return paths


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table for the terminal."""
    cols = [
        "parameter_set",
        "stage",
        "step",
        "kind",
        "name",
        "action",
        "status",
        "seconds",
        "detail",
    ]
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    for line in cells:
        line[-1] = line[-1][:70]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(out)


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
