"""Stages: one function per guide step, taking validated parameters and returning result rows.

Each notebook is a thin shell over :func:`run_stage`. A stage reads what earlier stages
produced from the run directory (``state.json``: client ids, endpoints, the JWKS — never
secrets), writes its rows to ``rows/<stage>.json`` even when it fails, and records what it
created in the ledger so that teardown removes exactly that.
"""

from __future__ import annotations

import importlib
import os
import traceback
from pathlib import Path
from typing import Any

from ..errors import OktalabError, ParameterError, StageFailed
from ..params import ALL_STAGES, ParameterSet, load_parameters
from ..results import StageResult, write_rows
from ..settings import Environment
from ..shared import holding, lock_keys
from ..writegate import NeedsWrite, gated
from .context import Context, Mode

__all__ = ["STAGES", "Context", "Mode", "run_stage"]

STAGES = {name: f"oktalab.stages.{name}" for name in ALL_STAGES}


def run_stage(
    stage: str,
    params: ParameterSet | str | Path,
    *,
    run_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    env: Environment | None = None,
    raise_on_failure: bool = True,
    mode: Mode = "apply",
) -> StageResult:
    """Run one stage. Rows are written to ``run_dir/rows/<stage>.json`` whatever happens.

    ``mode`` ``plan`` or ``check`` runs the same stage without writes (see
    :data:`oktalab.stages.context.Mode`); a stage that declares no such mode (its module's
    ``MODES``) adds one ``skipped`` row instead of running.
    """
    if stage not in STAGES:
        raise ParameterError(
            [("stage", f"unknown stage {stage!r}; expected one of {list(STAGES)}")]
        )
    ps = params if isinstance(params, ParameterSet) else load_parameters(params, overrides)
    rd = Path(run_dir) if run_dir else Path(os.environ.get("OKTALAB_RUN_DIR", f"runs/{ps.name}"))
    environment = env or Environment.load(target=ps.target)

    def new_context() -> Context:
        return Context(
            params=ps,
            run_dir=rd,
            env=environment,
            mode=mode,
            param_file=ps.source_file if isinstance(params, ParameterSet) else str(params),
        )

    ctx = new_context()
    result = StageResult(stage=stage, parameter_set=ps.name)
    module = importlib.import_module(STAGES[stage])
    error: BaseException | None = None
    from .ownership import ForeignObject

    try:
        if mode in getattr(module, "MODES", ("apply",)):
            keys = lock_keys()  # objects other sets of this batch write too
            done, why = False, ""
            if keys and mode == "apply" and stage != "teardown":
                try:  # without the locks until the first write (oktalab.writegate)
                    with gated():
                        module.run(ctx, result)
                    done = True
                except NeedsWrite as first:
                    ctx.close()  # nothing was written: start again, holding the locks
                    ctx, result = new_context(), StageResult(stage=stage, parameter_set=ps.name)
                    why = f"to write ({first}) "
            if done:
                detail, seconds = "; nothing to write here, so no lock taken", 0.0
            else:
                with holding(rd, stage) as lock:  # holding() takes the same lock_keys()
                    module.run(ctx, result)
                detail = f": {why}held {lock['held']:.2f} s, after waiting {lock['waited']:.2f} s"
                seconds = lock["waited"] + lock["held"]
            if keys:
                result.add(
                    "shared objects",
                    "Lock",
                    ", ".join(keys),
                    "checked",
                    detail=f"written by other sets too{detail}",
                    seconds=seconds,
                )
        else:
            result.add(
                "stage", "Stage", stage, "checked", "skipped", f"this stage has no {mode} mode yet"
            )
    except ForeignObject as exc:  # the row names the object, its owner and the differences
        error = exc
        result.add(exc.step, exc.kind, exc.name, "checked", "failed", exc.detail)
    except OktalabError as exc:
        error = exc
        result.add("stage", "Stage", stage, "checked", "failed", str(exc))
    except Exception as exc:  # an unexpected bug: keep the type and place, never the locals
        error = exc
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        result.add(
            "stage",
            "Stage",
            stage,
            "checked",
            "failed",
            f"{type(exc).__name__}: {exc} ({Path(tb.filename).name}:{tb.lineno})",
        )
    finally:
        write_rows(rd / "rows" / f"{stage}.json", result.rows)
        if ctx.writes:
            ctx.save()
        ctx.close()
    if error is not None and raise_on_failure:
        raise StageFailed(stage, error) from error
    if raise_on_failure and not result.ok:
        failed = [r for r in result.rows if r.status == "failed"]
        raise StageFailed(
            stage,
            f"{len(failed)} check(s) failed: "
            + "; ".join(f"{r.step}: {r.detail}" for r in failed[:3]),
        )
    return result
