"""Where to run and with which credentials: read from the environment, never from parameters.

Order for every value: the environment variable, then a ``*_FILE`` variable naming a file
that holds it, then — for a parameter set that targets the sandbox — the running sandbox's
``sandbox.env``. Secret values are wrapped in :class:`Secret`, whose ``repr`` and ``str``
reveal nothing, so displaying settings in a notebook is safe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigurationError

DEFAULT_SANDBOX_DIR = ".oktalab/sandbox"


class Secret:
    """A string that does not show itself. Call :meth:`reveal` at the moment of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('[secure]')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines (the format ``oktalab sandbox start`` writes)."""
    values: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def sandbox_dir() -> Path:
    """The sandbox state dir: $OKTALAB_SANDBOX_DIR, else ``.oktalab/sandbox`` here or in a parent."""
    env = os.environ.get("OKTALAB_SANDBOX_DIR")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        cand = d / DEFAULT_SANDBOX_DIR
        if (cand / "sandbox.env").is_file():
            return cand
    return here / DEFAULT_SANDBOX_DIR


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Resolved endpoints and credentials for one run."""

    okta_org_url: str | None = None
    #: the org's URL as browsers and token issuers see it, when API calls use another address
    #: (the sandbox behind jupyter-server-proxy); issuers are expected under it.
    okta_public_url: str | None = None
    okta_api_token: Secret | None = field(default=None, repr=False)
    #: an OAuth 2.0 service app for Okta's APIs instead of (or besides) the SSWS token
    okta_client_id: str | None = None
    okta_private_key: Secret | None = field(default=None, repr=False)
    okta_key_id: str | None = None
    kubeconfig: str | None = None
    gateway_url: str | None = None
    test_username: str | None = None
    test_password: Secret | None = field(default=None, repr=False)

    @classmethod
    def load(cls, *, target: str = "sandbox", env: dict[str, str] | None = None) -> Environment:
        src = dict(os.environ if env is None else env)
        fallback: dict[str, str] = {}
        if target == "sandbox":
            envfile = sandbox_dir() / "sandbox.env"
            if envfile.is_file():
                fallback = read_env_file(envfile)

        def get(name: str) -> str | None:
            if src.get(name):
                return src[name]
            fname = src.get(f"{name}_FILE")
            if fname:
                try:
                    return Path(fname).read_text().strip()
                except OSError as exc:
                    raise ConfigurationError(
                        f"{name}_FILE={fname} cannot be read: {exc.strerror}"
                    ) from None
            return fallback.get(name) or None

        def secret_from_env(name: str) -> Secret | None:
            """Only from this environment (never the sandbox's file): ``NAME`` or ``NAME_FILE``."""
            if src.get(name):
                return Secret(src[name])
            fname = src.get(f"{name}_FILE")
            if not fname:
                return None
            try:
                return Secret(Path(fname).read_text())
            except OSError as exc:
                raise ConfigurationError(
                    f"{name}_FILE={fname} cannot be read: {exc.strerror}"
                ) from None

        def secret(name: str) -> Secret | None:
            value = get(name)
            return Secret(value) if value else None

        return cls(
            okta_org_url=(get("OKTA_ORG_URL") or "").rstrip("/") or None,
            # the sandbox's resolved public URL is in its sandbox.env (the variable of the
            # same name in the environment may be a template with "{port}")
            okta_public_url=(
                get("OKTALAB_OKTA_PUBLIC_URL") or fallback.get("OKTALAB_SANDBOX_PUBLIC_URL") or ""
            ).rstrip("/")
            or None,
            okta_api_token=secret("OKTA_API_TOKEN"),
            okta_client_id=src.get("OKTA_CLIENT_ID") or None,
            okta_private_key=secret_from_env("OKTA_PRIVATE_KEY"),
            okta_key_id=src.get("OKTA_KEY_ID") or None,
            kubeconfig=get("KUBECONFIG"),
            gateway_url=(get("OKTALAB_GATEWAY_URL") or "").rstrip("/") or None,
            test_username=get("OKTALAB_TEST_USERNAME"),
            test_password=secret("OKTALAB_TEST_PASSWORD"),
        )

    @property
    def has_service_app(self) -> bool:
        return bool(self.okta_client_id and self.okta_private_key)

    def require(self, *names: str) -> None:
        """Fail with one message listing every missing setting and how to provide it."""
        hints = {
            "okta_org_url": "OKTA_ORG_URL (e.g. https://dev-123456.okta.com)",
            "okta_api_token": "OKTA_API_TOKEN or OKTA_API_TOKEN_FILE (an SSWS API token), "
            "or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY_FILE (an OAuth 2.0 service app)",
            "kubeconfig": "KUBECONFIG (path to a kubeconfig file)",
            "gateway_url": "OKTALAB_GATEWAY_URL (the gateway's base URL) or verify.gateway_url",
            "test_username": "OKTALAB_TEST_USERNAME (a user who may sign in to the app)",
            "test_password": "OKTALAB_TEST_PASSWORD or OKTALAB_TEST_PASSWORD_FILE",
        }
        missing = [
            hints[n]
            for n in names
            if getattr(self, n) is None and not (n == "okta_api_token" and self.has_service_app)
        ]
        if missing:
            raise ConfigurationError(
                "missing settings: "
                + ", ".join(missing)
                + ". For the embedded sandbox run `oktalab sandbox start` (it writes .oktalab/sandbox/sandbox.env)."
            )
