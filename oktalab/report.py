"""``report.html``: one self-contained page per run that an engineer can attach to a ticket.

Rendered with Jinja2 (``templates/report.html.j2``): a header (when, target org and cluster,
versions, wall time, counts), failures first with their cause and the command that repairs
them, a summary per parameter set and stage (status, wall time incl. kernel start, links to
each executed notebook as HTML — rendered here with nbconvert — and as ``.ipynb``), the
decoded token claims the claims stage saved (``token_claims.json``: claims only, never a
token, secret-like values masked), the screenshots inline, and the flow diagram of the start
notebook drawn as inline SVG. CSS and images are embedded, so the file opens from disk or as a
CI artifact; the notebook links are relative to the run folder.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import threading
from pathlib import Path
from typing import Any

STATUS_COLOURS = {"ok": "#d4edda", "failed": "#f8d7da", "skipped": "#e2e3e5"}


def flow_mermaid() -> str:
    """The sequence diagram of the start notebook (the one copy), or ``""`` if it has none."""
    from .packaged import notebooks_dir

    try:
        nb = json.loads((notebooks_dir() / "00_start.ipynb").read_text())
    except (OSError, ValueError):
        return ""
    for cell in nb.get("cells", []):
        text = "".join(cell.get("source", ""))
        m = re.search(r"```mermaid\n(.*?)```", text, re.S)
        if m:
            return m.group(1)
    return ""


def sequence_svg(mermaid: str) -> str:
    """Draw a Mermaid ``sequenceDiagram`` (participants, messages, notes) as inline SVG.

    Only the subset the start notebook uses; unknown lines are ignored. No script, so the
    report stays self-contained and opens offline.
    """
    actors: list[tuple[str, str]] = []
    steps: list[tuple[str, Any]] = []
    for raw in mermaid.splitlines():
        line = raw.strip()
        m = re.match(r"(?:actor|participant)\s+(\w+)(?:\s+as\s+(.+))?$", line)
        if m:
            actors.append((m.group(1), m.group(2) or m.group(1)))
            continue
        m = re.match(r"(\w+)\s*(-->>|->>|-->|->)\s*(\w+)\s*:\s*(.*)$", line)
        if m:
            steps.append(("msg", (m.group(1), m.group(3), m.group(4), m.group(2).startswith("--"))))
            continue
        m = re.match(r"Note over\s+(\w+)(?:\s*,\s*(\w+))?\s*:\s*(.*)$", line, re.I)
        if m:
            steps.append(("note", (m.group(1), m.group(2) or m.group(1), m.group(3))))
    if not actors:
        return ""
    col, top, row = 180, 60, 34
    x = {name: 100 + i * col for i, (name, _) in enumerate(actors)}
    height = top + row * (len(steps) + 1) + 20
    width = 100 + col * (len(actors) - 1) + 120
    e = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" viewBox="0 0 {width} {height}" '
        f'width="{width}" role="img" aria-label="flow diagram">',
        '<defs><marker id="arr" markerWidth="10" markerHeight="8" refX="9" refY="4" '
        'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#333"/></marker></defs>',
    ]
    for name, label in actors:
        cx = x[name]
        parts.append(
            f'<line x1="{cx}" y1="{top}" x2="{cx}" y2="{height - 10}" stroke="#999" '
            'stroke-dasharray="4 3"/>'
            f'<rect x="{cx - 80}" y="10" width="160" height="36" rx="5" fill="#eef3fb" '
            'stroke="#5b7db1"/>'
            f'<text x="{cx}" y="33" text-anchor="middle" font-size="12">{e(label)}</text>'
        )
    n = 0
    for i, (kind, data) in enumerate(steps):
        y = top + row * (i + 1)
        if kind == "note":
            a, b, text = data
            x1, x2 = sorted((x.get(a, 100), x.get(b, 100)))
            parts.append(
                f'<rect x="{x1 - 85}" y="{y - 18}" width="{x2 - x1 + 170}" height="24" '
                'fill="#fff8dc" stroke="#c9b458"/>'
                f'<text x="{(x1 + x2) / 2}" y="{y - 2}" text-anchor="middle" font-size="12" '
                f'font-weight="bold">{e(text)}</text>'
            )
            continue
        src, dst, text, dashed = data
        n += 1
        x1, x2 = x.get(src, 100), x.get(dst, 100)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        parts.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#333"{dash} '
            'marker-end="url(#arr)"/>'
            f'<text x="{(x1 + x2) / 2}" y="{y - 5}" text-anchor="middle" font-size="11">'
            f"{n}. {e(text)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_EXPORTER_LOCK = threading.Lock()


@functools.cache
def _exporter() -> Any:
    """One HTMLExporter per process: each new one compiles its Jinja templates again
    (about 0.1 CPU-s a notebook, most of a batch run's own CPU)."""
    from nbconvert import HTMLExporter

    return HTMLExporter()  # type: ignore[no-untyped-call]


def render_notebook_html(ipynb: Path) -> Path | None:
    """``<name>.html`` beside an executed notebook (nbconvert's HTML exporter), or None.

    An ``.html`` at least as new as the notebook is kept (the runner renders each notebook
    in the background as soon as its stage ends, so the report only links it)."""
    out = ipynb.with_suffix(".html")
    try:
        if out.stat().st_mtime_ns >= ipynb.stat().st_mtime_ns:
            return out
    except OSError:
        pass
    try:
        import nbformat
    except ImportError:  # pragma: no cover - nbconvert comes with papermill
        return None
    try:
        nb = nbformat.read(ipynb, as_version=4)  # type: ignore[no-untyped-call]
        with _EXPORTER_LOCK:
            body, _ = _exporter().from_notebook_node(nb)
    except Exception:  # a half-written notebook after Ctrl-C: link the .ipynb only
        return None
    out.write_text(body)
    return out


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def repair_command(meta: dict[str, Any], stage_run: dict[str, Any]) -> str:
    """The command that re-runs a failed stage and the ones after it, for its parameter file."""
    sets = {s["name"]: s for s in meta.get("sets", [])}
    file = sets.get(stage_run["parameter_set"], {}).get("file", "PARAMS.yaml")
    if stage_run["stage"] == "teardown":
        return f"oktalab teardown {file}"
    later = [
        s["stage"]
        for s in meta.get("stages", [])
        if s["parameter_set"] == stage_run["parameter_set"]
    ]
    start = later.index(stage_run["stage"]) if stage_run["stage"] in later else 0
    return f"oktalab run {file} --stages {','.join(later[start:])}"


def render_report(
    out_dir: Path, rows: list[dict[str, Any]], meta: dict[str, Any], *, title: str
) -> str:
    """The page's HTML. Also writes ``<set>/<notebook>.html`` for each executed notebook."""
    import jinja2

    stage_runs = [dict(s) for s in meta.get("stages", [])]
    for s in stage_runs:
        ipynb = out_dir / s["parameter_set"] / s["notebook"]
        s["ipynb"] = f"{s['parameter_set']}/{s['notebook']}" if ipynb.is_file() else ""
        rendered = render_notebook_html(ipynb) if ipynb.is_file() else None
        s["html"] = f"{s['parameter_set']}/{rendered.name}" if rendered else ""
        s["rows"] = [
            r for r in rows if r["parameter_set"] == s["parameter_set"] and r["stage"] == s["stage"]
        ]
    failures = []
    for s in stage_runs:
        if s["status"] != "failed":
            continue
        failed_rows = [r for r in s["rows"] if r["status"] == "failed"] or [
            {"step": "notebook", "name": s["notebook"], "detail": s.get("detail", "")}
        ]
        failures.append({**s, "failed_rows": failed_rows, "repair": repair_command(meta, s)})
    sets = []
    for info in meta.get("sets", []) or [
        {"name": n} for n in sorted({r["parameter_set"] for r in rows})
    ]:
        d = out_dir / info["name"]
        claims = {}
        claims_file = d / "token_claims.json"
        if claims_file.is_file():
            saved = json.loads(claims_file.read_text())  # masked when written (write_claims)
            claims = {k: list(v.items()) for k, v in saved.items() if isinstance(v, dict)}
        shots = sorted((d / "screenshots").glob("*.png")) if (d / "screenshots").is_dir() else []
        sets.append(
            {
                **info,
                "stages": [s for s in stage_runs if s["parameter_set"] == info["name"]],
                "claims": claims,
                "screenshots": [(p.name, _data_uri(p)) for p in shots],
            }
        )
    row_counts = {k: sum(1 for r in rows if r["status"] == k) for k in STATUS_COLOURS}
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("oktalab", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2").render(
        title=title,
        meta=meta,
        rows=rows,
        row_counts=row_counts,
        counts=meta.get("counts") or {},
        failures=failures,
        sets=sets,
        colours=STATUS_COLOURS,
        flow=sequence_svg(flow_mermaid()),
    )
