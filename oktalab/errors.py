"""The one exception hierarchy of oktalab.

```
OktalabError
├── ParameterError          bad parameter file or value; raised before any call is made
├── ConfigurationError      missing environment (org URL, token, kubeconfig, ...)
├── APIError                an HTTP API answered with an error
│   ├── OktaAPIError        Okta's error object (errorCode, errorSummary, errorCauses)
│   │   └── RateLimited     429 E0000047 that outlasted the retries
│   └── KubeAPIError        a Kubernetes Status object (reason, code)
├── NotAcceptedError        a Gloo resource reached a non-accepting state (INVALID, Rejected, ...)
├── VerificationError       a verification check could not be carried out
├── StageFailed             a stage (or its notebook) failed; carries the stage and the cause
└── SandboxError            the embedded sandbox could not be started, stopped or reached
```

Messages name the thing and say what to do. Errors never quote secrets: only known-safe
response fields are kept (the kopf habit), and text is truncated.
"""

from __future__ import annotations

from typing import Any

TEXT_MAX = 300


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


class OktalabError(Exception):
    """Base class of every error oktalab raises on purpose."""


class ParameterError(OktalabError, ValueError):
    """A parameter is missing or malformed. Raised before any remote call."""

    def __init__(self, problems: list[tuple[str, str]] | str, *, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = problems
        self.source = source
        lines = [f"{field}: {msg}" if field else msg for field, msg in problems]
        where = f" in {source}" if source else ""
        head = f"invalid parameters{where}"
        sep = ": " if len(lines) == 1 and "\n" not in lines[0] else ":\n  "
        super().__init__(head + sep + "\n  ".join(lines))


class ConfigurationError(OktalabError):
    """The environment lacks something oktalab needs (an URL, a token, a kubeconfig)."""


class APIError(OktalabError):
    """An HTTP API answered with an error status."""

    def __init__(self, message: str, *, status: int, method: str = "", url: str = "") -> None:
        self.status = status
        self.method = method
        self.url = url
        super().__init__(_clip(message))

    @property
    def retryable(self) -> bool:
        return self.status in (429, 500, 502, 503, 504)


class OktaAPIError(APIError):
    """Okta answered with its error object; ``error_code`` is the stable part (E0000...)."""

    def __init__(
        self,
        *,
        status: int,
        method: str,
        url: str,
        error_code: str = "",
        summary: str = "",
        causes: list[str] | None = None,
    ) -> None:
        self.error_code = error_code
        self.summary = summary
        self.causes = causes or []
        detail = summary or f"HTTP {status}"
        if self.causes:
            detail += " (" + "; ".join(self.causes) + ")"
        code = f"{error_code} " if error_code else ""
        super().__init__(
            f"Okta {method} {url}: {code}{detail}", status=status, method=method, url=url
        )

    @classmethod
    def from_response(cls, status: int, method: str, url: str, body: Any) -> OktaAPIError:
        if isinstance(body, dict) and "errorCode" in body:
            causes = [
                str(c.get("errorSummary", ""))
                for c in body.get("errorCauses") or []
                if isinstance(c, dict)
            ]
            return cls(
                status=status,
                method=method,
                url=url,
                error_code=str(body.get("errorCode", "")),
                summary=str(body.get("errorSummary", "")),
                causes=causes,
            )
        if isinstance(body, dict) and "error" in body:  # OAuth error shape
            return cls(
                status=status,
                method=method,
                url=url,
                error_code=str(body.get("error", "")),
                summary=str(body.get("error_description", "")),
            )
        return cls(status=status, method=method, url=url)


class RateLimited(OktaAPIError):
    """Okta kept answering 429 (E0000047) after waiting for the reset time."""


class KubeAPIError(APIError):
    """The Kubernetes API answered with a Status object."""

    def __init__(
        self, *, status: int, reason: str = "", message: str = "", method: str = "", url: str = ""
    ) -> None:
        self.reason = reason
        super().__init__(
            f"Kubernetes {method} {url}: {reason or status}: {message}",
            status=status,
            method=method,
            url=url,
        )


class NotAcceptedError(OktalabError):
    """A Gloo resource was processed and not accepted; ``state`` and ``reason`` are Gloo's."""

    def __init__(self, kind: str, name: str, state: str, reason: str) -> None:
        self.kind = kind
        self.name = name
        self.state = state
        self.reason = reason
        super().__init__(f"{kind} {name} is {state}: {reason or '(no reason given)'}")


class VerificationError(OktalabError):
    """A check could not be carried out (as opposed to a check that ran and failed)."""


class StageFailed(OktalabError):
    """A stage failed. ``stage`` names it, ``cause`` is the underlying error, ``cell`` the notebook cell."""

    def __init__(self, stage: str, cause: BaseException | str, *, cell: int | None = None) -> None:
        self.stage = stage
        self.cause = cause
        self.cell = cell
        where = f" (cell {cell})" if cell is not None else ""
        super().__init__(f"stage {stage!r} failed{where}: {cause}")


class SandboxError(OktalabError):
    """The embedded sandbox could not be started, stopped or reached."""


class Timeout(OktalabError):
    """Waiting for a condition ran out of time; the message says what was awaited."""
