"""The ``oktalab`` command: run, teardown, init, params, token, info, and the sandbox controls."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .errors import ConfigurationError, OktalabError, ParameterError
from .packaged import DEFAULT_SETS, default_parameter_files, init_lab, require_extra
from .params import GUIDE_STAGES
from .results import format_failures, format_table, plural
from .runner import default_jobs

DEFAULT_PARAMS = " and ".join(DEFAULT_SETS) + " (packaged: both guides on the sandbox)"


class Progress:
    """A line per stage as it starts and ends; a tqdm bar on a terminal; nothing with ``-q``.

    Lines go to ``stream`` (stderr), so stdout carries only the results table. Concurrent
    sets (``--jobs``) call it from several threads: each line is whole and names its set,
    and the bar (above the lines, tqdm keeps it at the bottom) counts finished stages and
    shows the sets running.
    """

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.bar: Any = None
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}

    def __call__(self, event: str, stage: Any, total: int) -> None:
        if self.quiet:
            return
        with self._lock:
            self._show(event, stage, total)

    def _show(self, event: str, stage: Any, total: int) -> None:
        if self.tty and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, file=self.stream, unit="stage", leave=False, dynamic_ncols=True
            )
        head = f"{stage.parameter_set:16} {stage.stage:14}"
        if event == "wait":
            line = f"{head} {stage.detail or 'waiting for a shared object'}"
        elif event == "start":
            line = f"{head} started"
            self._running[stage.parameter_set] = stage.stage
        else:
            line = f"{head} {stage.status:8} {stage.seconds:6.1f} s"
            self._running.pop(stage.parameter_set, None)
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            if event == "end":
                self.bar.update(1)
            running = ", ".join(f"{k} {v}" for k, v in self._running.items())
            self.bar.set_description(running[:60] or f"{stage.parameter_set} {stage.stage}")
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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


def _inputs(args: argparse.Namespace) -> list[str | Path]:
    """The parameter files, folders and batch files named; the packaged sandbox sets when
    nothing is named (neither files nor ``--template``/``--table``)."""
    if args.params or args.template or args.table:
        return list(args.params)
    return list(default_parameter_files())


def _print_rows(rows: list[dict[str, Any]]) -> None:
    """The results table, then each failed row's whole detail (the table cuts long cells)."""
    print(format_table(rows))
    print()
    failures = format_failures(rows)
    if failures:
        print(failures)
        print()


def _cmd_run(args: argparse.Namespace, *, teardown: bool = False) -> int:
    from .runner import Runner

    _adopt_args(args)
    files = _inputs(args)
    stages = (
        [s.strip() for s in args.stages.split(",") if s.strip()]
        if getattr(args, "stages", None)
        else None
    )
    progress = Progress(quiet=args.quiet)
    runner = Runner(
        out_dir=args.out,
        sandbox_state_dir=args.state_dir,
        log_output=args.verbose,
        progress=progress,
        jobs=args.jobs,
        template=args.template,
        table=args.table,
        lean_imports=True,  # this process is ours: see runner.preload_papermill
    )
    try:
        report = runner.run(files, stages=stages, teardown=teardown)
    finally:
        progress.close()
    counts = report.counts()
    where = report.paths["html"]
    if report.interrupted:
        print(
            f"interrupted: {counts['ok']} stage(s) passed, {counts['failed']} failed,"
            f" {counts['skipped']} skipped; reports in {where.parent}",
            file=sys.stderr,
        )
        return report.exit_code
    _print_rows(report.rows)
    verdict = (
        "all checks passed" if report.exit_code == 0 else f"{plural(report.failed, 'row')} failed"
    )
    print(f"{plural(len(report.rows), 'row')}, {verdict} in {report.seconds:.1f} s.")
    print(f"report: {where}")
    return report.exit_code


def _cmd_mode(args: argparse.Namespace) -> int:
    from .modes import exit_code, run_mode

    _adopt_args(args)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
    report = run_mode(
        _inputs(args),
        template=args.template,
        table=args.table,
        mode=args.command,
        out_dir=args.out or f"runs/{args.command}",
        state_from=getattr(args, "state_from", "runs/latest"),
        sandbox_state_dir=args.state_dir,
        stages=stages,
    )
    _print_rows(report.rows)
    code = exit_code(args.command, report.rows)
    verdict = {
        0: "nothing to change" if args.command == "plan" else "no drift",
        2: "changes planned",
    }
    print(
        f"{plural(len(report.rows), 'row')}, "
        f"{verdict.get(code, plural(report.failed, 'row') + ' failed')}. "
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


def _tool_version(cmd: list[str]) -> str:
    """The first line a tool prints for its version, or why there is none."""
    exe = shutil.which(cmd[0])
    if exe is None:
        return "not found on PATH"
    try:
        proc = subprocess.run(
            [exe, *cmd[1:]], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"at {exe}, no version ({type(exc).__name__})"
    text = (proc.stdout or proc.stderr).strip()
    if cmd[0] == "kubectl":
        try:
            return str(json.loads(text)["clientVersion"]["gitVersion"]) + f" at {exe}"
        except (ValueError, KeyError):
            pass
    return (text.splitlines() or ["?"])[0] + f" at {exe}"


def _cmd_info(args: argparse.Namespace) -> int:
    import importlib.metadata as md

    from .web import chromium_path

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
    chromium = chromium_path()
    print(f"chromium {_tool_version([chromium, '--version']) if chromium else 'not found on PATH'}")
    print(f"kubectl {_tool_version(['kubectl', 'version', '--client', '-o', 'json'])}")
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


def _cmd_token(args: argparse.Namespace) -> int:
    """An access token for the test user of a parameter set's app, on stdout only."""
    from . import oidc
    from .params import load_parameters
    from .settings import Environment
    from .stages.context import Context
    from .stages.okta_app import client_secret

    file = args.params or default_parameter_files()[0]
    ps = load_parameters(file)
    if args.state_dir:
        os.environ["OKTALAB_SANDBOX_DIR"] = str(Path(args.state_dir).resolve())
    env = Environment.load(target=ps.target)
    env.require("okta_org_url", "okta_api_token", "test_username", "test_password")
    assert env.okta_org_url and env.test_username and env.test_password
    ctx = Context(params=ps, run_dir=Path(os.devnull), env=env)
    try:
        app = ctx.okta.find_app(ps.app.label)
        if app is None:
            raise ConfigurationError(
                f"no Okta app labelled {ps.app.label!r}: run `oktalab run {file}` first"
            )
        ctx.state["app"] = {
            "id": app["id"],
            "client_id": app["credentials"]["oauthClient"]["client_id"],
            "type": ps.app.type,
        }
        secret = client_secret(ctx) if ps.app.type == "web" else None
        if ps.app.type == "web" and secret is None:
            raise ConfigurationError(
                "a web app needs its client secret: set OKTALAB_CLIENT_SECRET (Okta shows it once)"
            )
        tokens = oidc.headless_login(
            org_url=env.okta_org_url,
            metadata=oidc.discover(env.okta_org_url, ps.authorization_server),
            client_id=ctx.state["app"]["client_id"],
            redirect_uri=ctx.redirect_uris()[0],
            username=env.test_username,
            password=env.test_password,
            scopes=ps.token_preview.scopes,
            client_secret=secret,
        )
    finally:
        ctx.close()
    if sys.stdout.isatty():
        print(
            "warning: this access token is a secret; prefer TOKEN=$(oktalab token) over the screen",
            file=sys.stderr,
        )
    print(tokens.access_token.reveal())
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
    if args.rate_limits and args.rate_limits != "default":
        # read by the sandbox's rate limiter at start-up (the child inherits the environment)
        os.environ["OKTALAB_SANDBOX_RATE_LIMITS"] = args.rate_limits
    elif args.rate_limits == "default":
        os.environ.pop("OKTALAB_SANDBOX_RATE_LIMITS", None)
    if args.action == "serve":
        return control.serve_foreground(
            state_dir, public_url=args.public_url, gloo_version=args.gloo_version
        )
    if args.action == "start":
        if args.public_url and control.running(state_dir):
            print(
                f"a sandbox already runs for {state_dir} and keeps its URL; --public-url applies"
                f" at a start: oktalab sandbox stop --state-dir {state_dir}, then start again",
                file=sys.stderr,
            )
        return control.start(state_dir, public_url=args.public_url, gloo_version=args.gloo_version)
    if args.action == "stop":
        return control.stop(state_dir)
    code = control.status(state_dir)
    if code != 0:
        print(f"start one with: oktalab sandbox start --state-dir {state_dir}")
    return code


def _stage_epilog() -> str:
    lines = ["stages of each guide (--stages takes names of the guide of the parameter set):"]
    lines += [f"  {guide}: {', '.join(names)}" for guide, names in GUIDE_STAGES.items()]
    lines.append("  both guides: teardown (what `oktalab teardown` runs)")
    lines.append(
        "output: runs/<UTC timestamp>-<command>/ with runs/latest pointing to it (--out DIR instead)"
    )
    return "\n".join(lines)


def _jobs(text: str) -> int:
    """``--jobs``: a whole number of at least 1 (argparse turns the error into a usage line)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oktalab", description="Automate and verify the Okta + Gloo guides."
    )
    parser.add_argument("--version", action="version", version=f"oktalab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "params",
            nargs="*",
            help="parameter files, folders of them, or batch files (one YAML file naming "
            f"several sets, or a template + table) (default: {DEFAULT_PARAMS})",
        )
        p.add_argument(
            "--template",
            metavar="FILE",
            help="a parameter file whose values each --table row replaces (one set per row)",
        )
        p.add_argument(
            "--table",
            metavar="FILE",
            help="CSV (header: field paths such as name,app.label) or YAML list of per-set values",
        )
        p.add_argument(
            "--out",
            default=None,
            help="output folder (default: a new runs/<UTC timestamp>-<command>/, runs/latest points to it)",
        )
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
        p.add_argument(
            "-q", "--quiet", action="store_true", help="no progress lines: the table only"
        )

    def jobs_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-j",
            "--jobs",
            type=_jobs,
            default=None,
            metavar="N",
            help="parameter sets run at once (default: min(4, CPUs) = "
            f"{default_jobs()}; 1 runs them one after the other); stages of a set keep "
            "their order, and stages that write the same object never run at once",
        )

    fmt = argparse.RawDescriptionHelpFormatter
    run = sub.add_parser(
        "run",
        help="execute the stage notebooks for each parameter file",
        epilog=_stage_epilog(),
        formatter_class=fmt,
    )
    common(run)
    run.add_argument("--stages", help="comma-separated stages to run (default: the guide's stages)")
    jobs_arg(run)
    td = sub.add_parser(
        "teardown",
        help="remove what the stages created, and only that",
        epilog=_stage_epilog(),
        formatter_class=fmt,
    )
    common(td)
    jobs_arg(td)
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

    tok = sub.add_parser(
        "token",
        help="print an access token for the test user (stdout only), for the guide's curl check",
    )
    tok.add_argument(
        "params", nargs="?", help=f"parameter file (default: {DEFAULT_SETS[0]}, guide 1)"
    )
    tok.add_argument(
        "--state-dir", default=None, help="sandbox state folder (default: .oktalab/sandbox)"
    )

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
    sb.add_argument(
        "--rate-limits",
        choices=["default", "okta-defaults", "okta-enterprise", "okta-developer"],
        default=None,
        help="start/serve: the Okta org's per-minute rate limits: default (high, never in the "
        "way), okta-defaults = okta-enterprise (the numbers Okta publishes for an Enterprise "
        "org, per endpoint family) or okta-developer (its free Developer org). Applies at a start",
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
        if args.command == "token":
            return _cmd_token(args)
        return _cmd_sandbox(args)
    except ParameterError as exc:
        if len(exc.problems) == 1 and exc.problems[0][0].startswith("--"):
            print(f"error: {exc.problems[0][0]}: {exc.problems[0][1]}", file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except OktalabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `oktalab ... | head`: the reader left; say nothing more
        # (the Python docs' recipe: stdout to devnull, so the flush at exit cannot fail again)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it
    except OSError as exc:  # a path the user gave: not found, not a folder, not writable
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
