"""Fault injection for the sandbox Okta org, so client retry/timeout code can be exercised.

Configure with the environment variable ``OKTALAB_SANDBOX_FAULTS`` (read when the org is
constructed) or at run time with ``POST /__sandbox/faults`` (SSWS API token required;
``GET`` shows the active config, ``DELETE`` clears it). Both take the same JSON::

    {"seed": 1,
     "rules": [
        {"path": "^/api/v1/apps", "status": 503, "rate": 0.5},
        {"path": "^/oauth2/", "latency_ms": 200},
        {"path": "^/api/v1/users", "drop": true, "rate": 0.1},
        {"path": "^/api/v1/groups", "method": "POST", "status": 500},
        {"path": "^/api/v1/groups$", "hide_recent_ms": 2000}
     ]}

Each rule matches ``path`` (a regular expression searched in the request path) and optionally
``method``; ``rate`` (default 1.0) is the probability it fires, drawn from a ``random.Random``
seeded with ``seed`` so runs are reproducible. A firing rule first sleeps ``latency_ms``, then
either answers ``status`` with an Okta error object (E0000009 for 5xx, E0000047 for 429 …), or
with ``drop`` closes the connection without a complete response. Rules are evaluated in order;
latency accumulates, the first status/drop wins.

``hide_recent_ms`` simulates Okta's eventual consistency (a group created a moment ago missing
from ``GET /api/v1/groups?search=…``): list responses on matching paths leave out objects whose
``created`` time is younger than that many milliseconds. It is not subject to ``rate``.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultRule:
    path: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    latency_ms: int = 0
    drop: bool = False
    rate: float = 1.0
    hide_recent_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path.pattern, "rate": self.rate}
        if self.method:
            out["method"] = self.method
        if self.status:
            out["status"] = self.status
        if self.latency_ms:
            out["latency_ms"] = self.latency_ms
        if self.drop:
            out["drop"] = True
        if self.hide_recent_ms:
            out["hide_recent_ms"] = self.hide_recent_ms
        return out


@dataclass
class FaultDecision:
    latency_ms: int = 0
    status: int | None = None
    drop: bool = False


@dataclass
class Faults:
    seed: int | None = None
    rules: list[FaultRule] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def parse(cls, config: dict[str, Any]) -> Faults:
        """Validate a config document; raises ValueError with a readable message."""
        if not isinstance(config, dict):
            raise ValueError("fault config must be a JSON object")
        rules = []
        if not isinstance(config.get("rules", []), list):
            raise ValueError("rules must be an array")
        for i, raw in enumerate(config.get("rules") or []):
            if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
                raise ValueError(f"rules[{i}].path must be a regular expression string")
            try:
                pattern = re.compile(raw["path"])
            except re.error as exc:
                raise ValueError(f"rules[{i}].path: {exc}") from exc
            method = raw.get("method")
            if method is not None and not isinstance(method, str):
                raise ValueError(f"rules[{i}].method must be a string")
            for key in ("rate", "latency_ms", "hide_recent_ms"):
                value = raw.get(key, 0)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"rules[{i}].{key} must be a number")
            if not isinstance(raw.get("drop", False), bool):
                raise ValueError(f"rules[{i}].drop must be a boolean")
            rate = float(raw.get("rate", 1.0))
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rules[{i}].rate must be within [0, 1]")
            status = raw.get("status")
            if status is not None and (
                isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
            ):
                raise ValueError(f"rules[{i}].status must be an HTTP error status")
            rules.append(
                FaultRule(
                    path=pattern,
                    method=(raw.get("method") or None),
                    status=status,
                    latency_ms=max(0, int(raw.get("latency_ms", 0))),
                    drop=bool(raw.get("drop", False)),
                    rate=rate,
                    hide_recent_ms=max(0, int(raw.get("hide_recent_ms", 0))),
                )
            )
        seed = config.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str))):
            raise ValueError("seed must be an integer or a string")
        return cls(seed=seed, rules=rules, _rng=random.Random(seed))

    @classmethod
    def from_env(cls) -> Faults:
        raw = os.environ.get("OKTALAB_SANDBOX_FAULTS", "").strip()
        if not raw:
            return cls()
        try:
            return cls.parse(json.loads(raw))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"OKTALAB_SANDBOX_FAULTS is not a valid fault config: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [r.to_json() for r in self.rules]}

    def hide_recent(self, method: str, path: str) -> int:
        """Milliseconds of "not yet visible" for list results on this path (0 = none)."""
        for rule in self.rules:
            if rule.hide_recent_ms and rule.path.search(path):
                if not rule.method or rule.method.upper() == method.upper():
                    return rule.hide_recent_ms
        return 0

    def decide(self, method: str, path: str) -> FaultDecision:
        decision = FaultDecision()
        for rule in self.rules:
            if rule.method and rule.method.upper() != method.upper():
                continue
            if not rule.path.search(path):
                continue
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                continue
            decision.latency_ms += rule.latency_ms
            if rule.drop:
                decision.drop = True
                break
            if rule.status:
                decision.status = rule.status
                break
        return decision
