"""Tab 4, run: execute the stages of a parameter set and show the results table.

:func:`run_stages` runs stages in-process with a status callback (the widget badges);
:func:`run_batch` is the non-interactive path of the start notebook (``interactive=False``):
validate, run, print the table, no widget created.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError, StageFailed
from ..params import ParameterSet
from ..results import Row, StageResult, format_table, style, to_frame
from ..stages import run_stage
from .pages import _ensure, ensure_sandbox
from .parameters import validate
from .widgets import _ipython

STATUS_BADGES = {
    "pending": ("#6c757d", "pending"),
    "running": ("#0d6efd", "running…"),
    "ok": ("#198754", "ok"),
    "failed": ("#dc3545", "failed"),
    "skipped": ("#6c757d", "skipped"),
}


def _badge(status: str) -> str:
    colour, text = STATUS_BADGES[status]
    return (
        f'<span style="background:{colour};color:white;border-radius:4px;padding:1px 8px;'
        f'font-size:12px">{html.escape(text)}</span>'
    )


StatusCallback = Callable[[str, str, "StageResult | None"], None]


@dataclass
class BatchResult:
    """The rows of a start-notebook run; the table is its HTML form."""

    parameter_set: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r["status"] != "failed" for r in self.rows)

    def table(self) -> Any:
        return to_frame(self.rows)

    def _repr_html_(self) -> str:
        return str(style(self.table())._repr_html_())

    def raise_for_status(self) -> None:
        """Fail a batch (papermill) run when any check failed."""
        failed = [r for r in self.rows if r["status"] == "failed"]
        if failed or not self.rows:
            raise StageFailed(
                failed[0]["stage"] if failed else "start",
                "; ".join(f"{r['step']} {r['name']}: {r['detail']}" for r in failed[:5])
                or "no stage ran",
            )


def _skipped(ps: ParameterSet, stage: str, after: str) -> dict[str, Any]:
    row = Row(stage, "stage", "Stage", stage, "planned", "skipped", f"not run: {after!r} failed")
    row.parameter_set = ps.name
    return row.as_dict()


def run_stages(
    ps: ParameterSet,
    run_dir: str | Path,
    stages: list[str] | None = None,
    *,
    on_status: StatusCallback | None = None,
) -> BatchResult:
    """Run stages in order in this kernel; stop at the first failed one, marking later ones skipped."""
    wanted = stages or ps.stage_list
    report = BatchResult(ps.name)
    failed: str | None = None
    for stage in wanted:
        if failed:
            report.rows.append(_skipped(ps, stage, failed))
            if on_status:
                on_status(stage, "skipped", None)
            continue
        if on_status:
            on_status(stage, "running", None)
        result = run_stage(stage, ps, run_dir=run_dir, raise_on_failure=False)
        report.rows += [r.as_dict() for r in result.rows]
        status = "ok" if result.ok else "failed"
        if on_status:
            on_status(stage, status, result)
        if not result.ok and stage != "teardown":
            failed = stage
    return report


def run_batch(
    parameter_file: str | Path,
    run_root: str | Path = "../runs/interactive",
    stages: str | list[str] | None = None,
) -> BatchResult:
    """The start notebook without a frontend: validate, run the stages, print the table."""
    path = Path(parameter_file)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"cannot read {path}: {exc}", source=str(path)) from None
    ps, problems = validate(data)
    if ps is None:
        for f, msgs in problems.items():
            for m in msgs:
                print(f"  {f or '(file)'}: {m}")
        raise ParameterError(
            [(f, m) for f, msgs in problems.items() for m in msgs], source=str(path)
        )
    print(f"{path}: valid parameter set {ps.name!r} (guide {ps.guide}, target {ps.target})")
    sandbox = _ensure(None, 90.0) if ps.target == "sandbox" else None
    if sandbox is not None:
        print(f"sandbox: {sandbox.state_dir}")
    wanted = (
        [s.strip() for s in stages.split(",") if s.strip()] if isinstance(stages, str) else stages
    )

    def say(stage: str, status: str, _: StageResult | None) -> None:
        print(f"  {stage:<14} {status}", flush=True)

    try:
        report = run_stages(ps, Path(run_root) / ps.name, wanted or None, on_status=say)
    finally:
        if sandbox is not None:
            sandbox.stop_if_started()  # a batch run leaves no sandbox behind it did not find
    print(format_table(report.rows))
    return report


class StagePanel:
    """The stages of a parameter set with a status badge each; run one by one or all."""

    def __init__(self, run_root: str | Path = "../runs/interactive") -> None:
        import ipywidgets as w

        self.w = w
        self.run_root = Path(run_root)
        self.parameter_set: ParameterSet | None = None
        self.badges: dict[str, Any] = {}
        self.buttons: dict[str, Any] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.list = w.VBox()
        self.run_all_button = w.Button(description="Run all", icon="play", button_style="success")
        self.run_all_button.on_click(lambda _: self._clicked(self.run_all))
        self.output = w.Output()
        self.header = w.HTML("<i>validate a parameter set first</i>")
        self.widget = w.VBox([self.header, self.list, self.run_all_button, self.output])

    @property
    def run_dir(self) -> Path:
        assert self.parameter_set is not None
        return self.run_root / self.parameter_set.name

    def show(self, ps: ParameterSet) -> None:
        w = self.w
        self.parameter_set = ps
        self.header.value = (
            f"<b>{html.escape(ps.name)}</b> ({html.escape(ps.guide)}, target "
            f"{html.escape(ps.target)}), run folder <code>{html.escape(str(self.run_dir))}</code>"
        )
        rows = []
        self.badges, self.buttons = {}, {}
        for stage in ps.stage_list:
            badge = w.HTML(_badge("pending"), layout=w.Layout(width="90px"))
            button = w.Button(description=f"Run {stage}", layout=w.Layout(width="180px"))
            button.on_click(lambda _, s=stage: self._clicked(self.run, s))
            self.badges[stage], self.buttons[stage] = badge, button
            rows.append(w.HBox([badge, button]))
        self.list.children = rows

    def _clicked(self, action: Callable[..., Any], *args: Any) -> None:
        """Run a button's action; show its error in the output (JupyterLab shows none)."""
        try:
            action(*args)
        except Exception as exc:
            with self.output:
                print(f"{type(exc).__name__}: {exc}")

    def set_status(self, stage: str, status: str, detail: str = "") -> None:
        if stage in self.badges:
            extra = f" <small>{html.escape(detail)}</small>" if detail else ""
            self.badges[stage].value = _badge(status) + extra

    def _ensure_ready(self) -> ParameterSet:
        if self.parameter_set is None:
            raise ParameterError("validate a parameter set first")
        if self.parameter_set.target == "sandbox":
            ensure_sandbox()
        return self.parameter_set

    def _on_status(self, stage: str, status: str, result: StageResult | None) -> None:
        self.set_status(stage, status)
        if result is None:
            return
        self.rows[stage] = [r.as_dict() for r in result.rows]
        with self.output:
            display, Markdown, Image = _ipython("display", "Markdown", "Image")
            display(Markdown(f"### {stage}"))
            display(style(result.table()))
            preview = result.outputs.get("preview") or {}
            for which in ("access_token", "id_token"):
                if preview.get(which):
                    from ..results import claims_frame

                    frame = claims_frame(preview[which])
                    display(frame.style.set_caption(which).hide(axis="index"))
            shot = self.run_dir / "screenshots" / "portal-signed-in.png"
            if stage == "portal_verify" and shot.exists():
                display(Image(filename=str(shot)))

    def run(self, stage: str) -> BatchResult:
        ps = self._ensure_ready()
        self.output.clear_output()
        return run_stages(ps, self.run_dir, [stage], on_status=self._on_status)

    def run_all(self) -> BatchResult:
        ps = self._ensure_ready()
        self.output.clear_output()
        for stage in ps.stage_list:
            self.set_status(stage, "pending")
        report = run_stages(ps, self.run_dir, on_status=self._on_status)
        with self.output:
            display, Markdown = _ipython("display", "Markdown")
            verdict = "all checks passed" if report.ok else "some checks failed"
            display(Markdown(f"### all stages: {verdict}"))
            display(report)
        return report
