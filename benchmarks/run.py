"""oktalab benchmarks: each target is a ratio against a baseline measured in the same run.

Absolute times depend on the machine; ratios against a baseline taken seconds earlier on the
same machine and server do not. Every loop is bounded and talks only to 127.0.0.1.

  gateway ext-auth overhead   protected route (JWT checked)   vs  open route
  kube API list overhead      list 50 custom objects           vs  GET /version
  okta client pagination      3 pages of groups via the client  vs  one raw GET of the first page
  sandbox memory growth       RSS after 300 more objects       vs  RSS at start
  idempotent re-run writes    write requests of a re-run of both sandbox guides (target 0)
  idempotent re-run reads     read requests per object of that re-run  vs  1 read per object
  both guides (run/floor)     `oktalab run`, both sandbox sets  vs  their stages in one process
                                                                    + one kernel start
  batch 16 sets (jobs 4/1)    16 sets (template + table) -j 4  vs  the same with --jobs 1
                              (target 0.4: at least 2.5x faster; benchmarks/batchbench.py)
  batch kernels (forked/spawned)  that -j 4 batch  vs  the same with OKTALAB_FORK_KERNELS=0
                              (target 0.5: forking kernels at least halves a batch)

The idempotent re-run counts requests, not time, from the sandbox's request log
(``/__sandbox/writes`` and ``/__sandbox/reads``): writes to Okta's management API and to
Kubernetes (end-user sign-in traffic such as token requests is not configuration), reads of
both (Kubernetes dry runs included), per object in the re-run's results (rows
``unchanged``). The re-run is of the stages that configure (:data:`CONFIGURING`): the
verification stages ``verify`` and ``portal_verify`` sign in fresh throwaway users at every
run by design (two ``POST /api/v1/users`` and a sign-up), which no re-run can avoid.

Run with ``make bench``. Exit code 1 when a ratio misses its target.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "gateway ext-auth overhead": 1.25,
    "kube API list overhead": 8.0,
    "okta client pagination": 6.0,
    "sandbox memory growth": 1.5,
    "idempotent re-run writes": 0.0,
    "idempotent re-run reads": 2.0,
    "both guides (run/floor)": 1.3,
    "batch 16 sets (jobs 4/jobs 1)": 0.4,
    "batch kernels (forked/spawned)": 0.5,
}


WHOLE_RUNS = (
    "both guides (run/floor)",
    "batch 16 sets (jobs 4/jobs 1)",
    "batch kernels (forked/spawned)",
)


def timeit(fn: Callable[[], object], n: int) -> float:
    """Median seconds of ``n`` calls after 5 warm-up calls."""
    for _ in range(5):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def paired(fa: Callable[[], object], fb: Callable[[], object], n: int) -> tuple[float, float]:
    """Median seconds of ``fa`` and of ``fb``, called alternately ``n`` times each after 5
    warm-up pairs, so that load from other processes on a shared machine hits both alike."""
    for _ in range(5):
        fa(), fb()
    a, b = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        fa()
        t1 = time.perf_counter()
        fb()
        a.append(t1 - t0)
        b.append(time.perf_counter() - t1)
    return statistics.median(a), statistics.median(b)


#: Both guides' stages that write configuration (``oktalab run --help`` lists them all).
CONFIGURING = "okta_app,claims,extauth,portal_groups,registration,portal"


def idempotent_rerun(cli: list[str]) -> tuple[int, int, int]:
    """Run both packaged sandbox guides on a fresh sandbox, then their configuring stages
    again; for the second run: (write requests, read requests, objects). Writes and reads
    are counted by the sandbox (Okta management API + Kubernetes API; Kubernetes dry runs
    count as reads)."""
    from oktalab.settings import read_env_file

    home = Path(tempfile.mkdtemp(prefix="oktalab-bench-rerun-"))
    state = home / "sandbox"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OKTA_", "OKTALAB_")) and k != "KUBECONFIG"
    }
    env["OKTALAB_HOME"] = str(home)
    subprocess.run(
        [*cli, "start", "--state-dir", str(state)], check=True, capture_output=True, cwd=ROOT
    )
    try:
        senv = read_env_file(state / "sandbox.env")
        admin = httpx.Client(
            base_url=senv["OKTA_ORG_URL"],
            headers={"Authorization": f"SSWS {senv['OKTA_API_TOKEN']}"},
        )

        def run(out: str, *extra: str) -> None:
            proc = subprocess.run(
                [sys.executable, "-m", "oktalab", "run", "-q", "--state-dir", str(state)]
                + ["--out", str(home / out), *extra],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
            )
            if proc.returncode != 0:
                raise SystemExit(f"oktalab run failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

        def counts() -> tuple[int, int]:
            writes = admin.get("/__sandbox/writes").json()
            reads = admin.get("/__sandbox/reads").json()
            return (
                sum(writes.get(s, {}).get("writes", 0) for s in ("okta", "kube")),
                sum(reads.get(s, 0) for s in ("okta", "kube")),
            )

        run("first")
        w0, r0 = counts()
        run("again", "--stages", CONFIGURING)
        w1, r1 = counts()
        rows = json.loads((home / "again" / "results.json").read_text())
        objects = sum(1 for r in rows if r["action"] == "unchanged")
        return w1 - w0, r1 - r0, objects
    finally:
        subprocess.run([*cli, "stop", "--state-dir", str(state)], capture_output=True, cwd=ROOT)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from oktalab import Secret
    from oktalab.oidc import discover, headless_login
    from oktalab.okta import OktaClient
    from oktalab.settings import read_env_file

    state = Path(tempfile.mkdtemp(prefix="oktalab-bench-")) / "sandbox"
    cli = [sys.executable, "-m", "oktalab", "sandbox"]
    subprocess.run(
        [*cli, "start", "--state-dir", str(state)], check=True, capture_output=True, cwd=ROOT
    )
    results: list[tuple[str, float, float, float]] = []
    try:
        env = read_env_file(state / "sandbox.env")
        pid = int(env["OKTALAB_SANDBOX_PID"])
        rss0 = rss_kib(pid)
        okta = OktaClient(env["OKTA_ORG_URL"], Secret(env["OKTA_API_TOKEN"]))
        # one SPA app for a token, then an ExtAuthPolicy through the real stages' builders
        app = okta.create_app(
            {
                "name": "oidc_client",
                "label": "bench-spa",
                "signOnMode": "OPENID_CONNECT",
                "credentials": {
                    "oauthClient": {"token_endpoint_auth_method": "none", "pkce_required": True}
                },
                "settings": {
                    "oauthClient": {
                        "application_type": "browser",
                        # interaction_code: the sandbox is an Identity Engine org, where the
                        # headless sign-in goes through IDX (as the okta_app stage sets it up)
                        "grant_types": ["authorization_code", "interaction_code"],
                        "response_types": ["code"],
                        "redirect_uris": ["http://localhost/cb"],
                    }
                },
            }
        )
        okta.assign_group(app["id"], okta.everyone_group()["id"])
        meta = discover(env["OKTA_ORG_URL"])
        tokens = headless_login(
            org_url=env["OKTA_ORG_URL"],
            metadata=meta,
            client_id=app["credentials"]["oauthClient"]["client_id"],
            redirect_uri="http://localhost/cb",
            username=env["OKTALAB_TEST_USERNAME"],
            password=Secret(env["OKTALAB_TEST_PASSWORD"]),
            scopes=["openid"],
        )
        from oktalab import gloo
        from oktalab.kube import Kube, accepted_check
        from oktalab.oidc import fetch_jwks
        from oktalab.params import ExtAuthParams

        kube = Kube(env["KUBECONFIG"])
        p = ExtAuthParams()
        kube.ensure(gloo.ext_auth_server(p, cluster="cluster1"), "bench")
        kube.ensure(
            gloo.ext_auth_policy(p, cluster="cluster1", jwks=fetch_jwks(meta.jwks_uri)), "bench"
        )
        kube.wait(
            "ExtAuthPolicy",
            p.policy_name,
            p.namespace,
            accepted_check("ExtAuthPolicy"),
            timeout=30,
            what="ACCEPTED",
        )
        time.sleep(0.5)

        gw = httpx.Client(base_url=env["OKTALAB_GATEWAY_URL"])
        auth = {"Authorization": f"Bearer {tokens.access_token.reveal()}"}
        assert gw.get("/productpage", headers=auth).status_code == 200
        base, cand = paired(
            lambda: gw.get("/reviews"), lambda: gw.get("/productpage", headers=auth), 300
        )
        results.append(("gateway ext-auth overhead", base, cand, cand / base))

        for i in range(50):
            kube.ensure(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": f"bench-{i}", "namespace": "default"},
                    "data": {"k": "dmFsdWU="},
                },
                "bench",
            )
        from kubernetes import client as k8s

        version = k8s.VersionApi(kube.api_client)
        base = timeit(version.get_code, 60)
        cand = timeit(
            lambda: kube.list("Secret", "default", label_selector="oktalab.io/parameter-set=bench"),
            60,
        )
        results.append(("kube API list overhead", base, cand, cand / base))

        for i in range(120):
            okta.create_group(f"bench-group-{i:03d}")
        raw = httpx.Client(
            base_url=env["OKTA_ORG_URL"], headers={"Authorization": f"SSWS {env['OKTA_API_TOKEN']}"}
        )
        base = timeit(lambda: raw.get("/api/v1/groups", params={"limit": 50}), 40)
        cand = timeit(lambda: list(okta.paginate("/api/v1/groups", limit=50)), 40)
        results.append(("okta client pagination", base, cand, cand / base))

        for i in range(300):
            kube.ensure(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": f"mem-{i}", "namespace": "default"},
                    "data": {"k": "dmFsdWU="},
                },
                "bench",
            )
        rss1 = rss_kib(pid)
        results.append(("sandbox memory growth", rss0 / 1024, rss1 / 1024, rss1 / rss0))
    finally:
        subprocess.run([*cli, "stop", "--state-dir", str(state)], capture_output=True, cwd=ROOT)

    writes, reads, objects = idempotent_rerun(cli)
    results.append(("idempotent re-run writes", 0.0, float(writes), float(writes)))
    results.append(
        ("idempotent re-run reads", float(objects), float(reads), reads / max(objects, 1))
    )

    if os.environ.get("OKTALAB_BENCH_JOBS", "1") != "0":  # the whole-run benchmarks (minutes)
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import batchbench

        results += batchbench.measure()

    failed = 0
    print(f"{'benchmark':30} {'baseline':>10} {'measured':>10} {'ratio':>7} {'target':>7}  verdict")
    for name, base, cand, ratio in results:
        unit = (
            "MiB"
            if "memory" in name
            else "s"
            if name in WHOLE_RUNS
            else "req"
            if "re-run" in name
            else "ms"
        )
        scale = 1000 if unit == "ms" else 1
        ok = ratio <= TARGETS[name]
        failed += not ok
        print(
            f"{name:30} {base * scale:9.2f}{unit[0]} {cand * scale:9.2f}{unit[0]} {ratio:7.2f} {TARGETS[name]:7.2f}  {'ok' if ok else 'MISSED'}"
        )
    out = ROOT / "runs" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            [
                {"name": n, "baseline": b, "measured": c, "ratio": r, "target": TARGETS[n]}
                for n, b, c, r in results
            ],
            indent=1,
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
