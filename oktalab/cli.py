"""The ``oktalab`` command: run, teardown, params, info, and the sandbox controls."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from . import __version__
from .errors import OktalabError, ParameterError
from .packaged import DEFAULT_SETS, default_parameter_files, init_lab, require_extra
from .results import format_table

DEFAULT_PARAMS = " and ".join(DEFAULT_SETS) + " (packaged: both guides on the sandbox)"


def _adopt_args(args: argparse.Namespace) -> None:
    from .params import ADOPT_ENV, adopt_from_env, parse_adopt

    if args.adopt:
        problems = []
        for entry in args.adopt:
            try:
                parse_adopt(entry)
            except ValueError as exc:
                problems.append(("--adopt", str(exc)))
        if problems:
            raise ParameterError(problems)
        # merged into every set's ``adopt`` when a parameter file is loaded, here and in the
        # notebook kernels (they inherit the environment)
        merged = adopt_from_env() + [e for e in args.adopt if e not in adopt_from_env()]
        os.environ[ADOPT_ENV] = json.dumps(merged)


def _cmd_run(args: argparse.Namespace, *, teardown: bool = False) -> int:
    from .runner import Runner

    _adopt_args(args)
    files: list[str | Path] = list(args.params) or list(default_parameter_files())
    stages = (
        [s.strip() for s in args.stages.split(",") if s.strip()]
        if getattr(args, "stages", None)
        else None
    )
    runner = Runner(out_dir=args.out, sandbox_state_dir=args.state_dir, log_output=args.verbose)
    report = runner.run(files, stages=stages, teardown=teardown)
    print(format_table(report.rows))
    print()
    verdict = "all checks passed" if report.exit_code == 0 else f"{report.failed} row(s) failed"
    print(
        f"{len(report.rows)} rows, {verdict}. Reports: {report.paths['json']}, {report.paths['csv']}, {report.paths['html']}"
    )
    return report.exit_code


def _cmd_mode(args: argparse.Namespace) -> int:
    from .modes import exit_code, run_mode

    _adopt_args(args)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
    report = run_mode(
        list(args.params) or list(default_parameter_files()),
        mode=args.command,
        out_dir=args.out or f"runs/{args.command}",
        state_from=getattr(args, "state_from", "runs/latest"),
        sandbox_state_dir=args.state_dir,
        stages=stages,
    )
    print(format_table(report.rows))
    print()
    code = exit_code(args.command, report.rows)
    verdict = {
        0: "nothing to change" if args.command == "plan" else "no drift",
        2: "changes planned",
    }
    print(
        f"{len(report.rows)} rows, {verdict.get(code, f'{report.failed} row(s) failed')}. "
        f"Reports: {report.paths['json']}, {report.paths['csv']}, {report.paths['html']}"
    )
    return code


def _cmd_params(args: argparse.Namespace) -> int:
    from .params import ParameterSet, load_parameters

    if args.file:
        ps = load_parameters(args.file)
        print(
            f"{args.file}: valid parameter set {ps.name!r} (guide {ps.guide}, target {ps.target}); stages: {', '.join(ps.stage_list)}"
        )
        if args.show:
            print(json.dumps(ps.model_dump(mode="json"), indent=2))
        return 0
    schema = ParameterSet.model_json_schema()
    print(json.dumps(schema, indent=2))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import importlib.metadata as md

    print(f"oktalab {__version__} at {Path(__file__).resolve().parent}")
    print(
        f"Python {platform.python_implementation()} {platform.python_version()} on {platform.platform()}"
    )
    for dist in (
        "httpx",
        "pydantic",
        "kubernetes",
        "papermill",
        "pyjwt",
        "starlette",
        "uvicorn",
        "playwright",
    ):
        try:
            print(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            print(f"{dist} not installed")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    copied = init_lab(args.dir, force=args.force)
    refused = [c for c in copied if c.action == "refused"]
    if refused:
        for c in refused:
            print(f"error: {c.path} differs from the packaged copy", file=sys.stderr)
        print(
            f"nothing written; keep your changes, or overwrite with: oktalab init {args.dir} --force",
            file=sys.stderr,
        )
        return 1
    for c in copied:
        print(f"{c.action:9} {c.path}")
    print(f"next: cd {args.dir} && jupyter lab notebooks/00_start.ipynb")
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    require_extra("sandbox", "the embedded sandbox")
    try:
        from .sandbox import control
    except ImportError as exc:  # the optional extra is missing
        print(
            f"the embedded sandbox needs its extra: pip install 'oktalab[sandbox]' ({exc.name} is missing)",
            file=sys.stderr,
        )
        return 2
    state_dir = Path(args.state_dir)
    if args.action == "serve":
        return control.serve_foreground(
            state_dir, public_url=args.public_url, gloo_version=args.gloo_version
        )
    if args.action == "start":
        return control.start(state_dir, public_url=args.public_url, gloo_version=args.gloo_version)
    if args.action == "stop":
        return control.stop(state_dir)
    return control.status(state_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oktalab", description="Automate and verify the Okta + Gloo guides."
    )
    parser.add_argument("--version", action="version", version=f"oktalab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("params", nargs="*", help=f"parameter files (default: {DEFAULT_PARAMS})")
        p.add_argument("--out", default="runs/latest", help="output folder (default: runs/latest)")
        p.add_argument(
            "--state-dir", default=None, help="sandbox state folder (default: .oktalab/sandbox)"
        )
        p.add_argument("-v", "--verbose", action="store_true", help="stream notebook output")
        p.add_argument(
            "--adopt",
            action="append",
            default=[],
            metavar="KIND/NAME",
            help="let every set take over this existing object (repeatable): app/<label>, "
            "group/<name>, claim/<name>, scope/<name>, policy/<name>, <Kind>/<namespace>/<name>",
        )

    run = sub.add_parser("run", help="execute the stage notebooks for each parameter file")
    common(run)
    run.add_argument("--stages", help="comma-separated stages to run (default: the guide's stages)")
    td = sub.add_parser("teardown", help="remove what the stages created, and only that")
    common(td)
    for name, text in (
        ("plan", "show what a run would change, writing nothing (exit 2 when something would)"),
        ("check", "read-only drift and health check of what a run created (exit 1 on drift)"),
    ):
        mp = sub.add_parser(name, help=text)
        common(mp)
        mp.set_defaults(out=None)
        mp.add_argument("--stages", help="comma-separated stages (default: the guide's stages)")
        mp.add_argument(
            "--from",
            dest="state_from",
            default="runs/latest",
            help="run folder whose state.json (app ids, never secrets) to use (default: runs/latest)",
        )

    pp = sub.add_parser("params", help="validate a parameter file, or print the parameter schema")
    pp.add_argument("file", nargs="?")
    pp.add_argument("--show", action="store_true", help="print the validated values")

    sub.add_parser("info", help="print versions for bug reports")

    ini = sub.add_parser(
        "init", help="copy the notebooks and example parameters into DIR for JupyterLab"
    )
    ini.add_argument("dir", help="folder to write notebooks/ and parameters/ into")
    ini.add_argument("--force", action="store_true", help="overwrite files you changed")

    sb = sub.add_parser("sandbox", help="the embedded sandbox (Okta org, Kubernetes API, gateway)")
    sb.add_argument("action", choices=["start", "stop", "status", "serve"])
    sb.add_argument(
        "--state-dir", default=".oktalab/sandbox", help="state folder (default: .oktalab/sandbox)"
    )
    sb.add_argument(
        "--public-url",
        default=None,
        help="start/serve: public base URL of the Okta org behind a proxy ({port} = the Okta port)",
    )
    sb.add_argument(
        "--gloo-version",
        choices=["2.5", "2.14"],
        default=None,
        help="start/serve: the Gloo release the cluster presents: 2.5 (the guide's era: "
        "AuthConfig in enterprise.gloo.solo.io) or 2.14 (gloo-platform-crds 2.14.0: AuthConfig "
        "in extauth.solo.io, found by Gloo's parent labels). Default: the state folder's, else 2.5",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "teardown":
            return _cmd_run(args, teardown=True)
        if args.command in ("plan", "check"):
            return _cmd_mode(args)
        if args.command == "params":
            return _cmd_params(args)
        if args.command == "info":
            return _cmd_info(args)
        if args.command == "init":
            return _cmd_init(args)
        return _cmd_sandbox(args)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OktalabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path the user gave: not found, not a folder, not writable
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
