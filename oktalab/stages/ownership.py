"""Who may write an Okta object: this parameter set's ledger decides, never a name match.

Before a stage writes an object it found by its stable key (app label, group name, claim
name and type, scope name, policy name), :func:`take` answers:

- ``owned``: the ledger records that this set created (or adopted) it, or an intent of a
  create that a crash interrupted (reconciled now: the id is recorded);
- ``adopted``: the user opted in (``adopt:`` / ``--adopt``); its prior state is recorded so
  that teardown restores it;
- ``foreign``: someone else's object that already matches: used as it is, never written,
  and recorded as ``used`` so that its owner's teardown does not pull it from under us;
- otherwise :class:`ForeignObject` is raised: the stage stops with a row naming the object,
  its owner (another set's ledger, or nobody) and the fields that differ.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from ..errors import OktalabError
from .context import Context

#: Seconds a lookup keeps retrying when a crash may have left a create unrecorded (see
#: :func:`settle`); Okta's lists and searches are eventually consistent with creates.
LIST_LAG_ENV = "OKTALAB_LIST_LAG_SECONDS"
LIST_LAG_DEFAULT = 15.0


class ForeignObject(OktalabError):
    """An object this parameter set does not own would have to change; nothing was written."""

    def __init__(
        self,
        step: str,
        kind: str,
        name: str,
        *,
        owner: str | None,
        diffs: list[str],
        adopt_entry: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.step = step
        self.kind = kind
        self.name = name
        self.owner = owner
        self.diffs = diffs
        who = (
            f"owned by parameter set {owner!r}" if owner else "owned by nobody in oktalab's ledgers"
        )
        detail = reason or f"not created by this parameter set ({who})"
        if diffs:
            detail += f"; differs in {', '.join(diffs)}"
        detail += "; left unchanged"
        if adopt_entry:
            detail += (
                f". To let this set manage it: adopt: [{adopt_entry!r}] or --adopt {adopt_entry!r}"
            )
        self.detail = detail
        super().__init__(f"{kind} {name!r}: {detail}")


def take(
    ctx: Context,
    *,
    ledger_kind: str,
    adopt_kind: str,
    name: str,
    obj: dict[str, Any],
    diffs: list[str],
    step: str,
    row_kind: str,
    prior: dict[str, Any] | None = None,
    **extra: str,
) -> str:
    """``owned`` | ``adopted`` | ``foreign`` for ``obj`` (see the module doc); raise
    ForeignObject when a foreign object would have to change, or when an owned object that
    other sets use as it is would change under them."""
    led = ctx.ledger
    key = str(obj["id"])
    if led.owns(ledger_kind, key):
        status = "owned"
    elif led.intents(ledger_kind, name):
        led.created(ledger_kind, key, name=name, **extra)  # a crash came between create and record
        status = "owned"
    elif ctx.params.adopts(adopt_kind, name):
        led.adopted(ledger_kind, key, name=name, prior=_clean(prior or obj), **extra)
        return "adopted"
    elif diffs:
        raise ForeignObject(
            step,
            row_kind,
            name,
            owner=led.owner_of(ledger_kind, key),
            diffs=diffs,
            adopt_entry=f"{adopt_kind}/{name}",
        )
    else:
        led.used(ledger_kind, key, name=name, **extra)
        return "foreign"
    users = led.users_of(ledger_kind, key)
    if diffs and users:
        raise ForeignObject(
            step,
            row_kind,
            name,
            owner=ctx.params.name,
            diffs=diffs,
            reason=f"shared: parameter set(s) {', '.join(users)} use it as it is now, and "
            "changing it would break their sign-ins",
        )
    return status


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The restorable part of an Okta object: no links, no embedded data, no secret."""
    out = {k: v for k, v in obj.items() if k not in ("_links", "_embedded")}
    oauth = (out.get("credentials") or {}).get("oauthClient")
    if isinstance(oauth, dict) and "client_secret" in oauth:
        out["credentials"] = {
            **out["credentials"],
            "oauthClient": {k: v for k, v in oauth.items() if k != "client_secret"},
        }
    return out


def foreign_write(ctx: Context, step: str, row_kind: str, name: str, what: str) -> ForeignObject:
    """The error for a write (an assignment, a mapping) on an object used as it is."""
    return ForeignObject(
        step,
        row_kind,
        name,
        owner=None,
        diffs=[what],
        reason=f"{what} would change an object this parameter set does not own",
    )


def new_user(ctx: Context, login: str, profile: dict[str, Any], step: str) -> None:
    """Before oktalab creates (or signs up) a user: the login must be new.

    oktalab only makes users with fresh logins (sign-up and outsider checks) and deletes them
    at teardown; a user that already holds the login is someone else's person: it is never
    signed up over, recorded as this set's, or deleted. Raises :class:`ForeignObject` naming
    the login, its owner (another set's ledger, or nobody) and the fields a create would set
    that differ (``profile.*``, ``credentials.password``).
    """
    found = ctx.okta.find_user(login)
    if found is None or ctx.ledger.owns("okta_user", str(found["id"])):
        return
    have = found.get("profile") or {}
    diffs = [f"profile.{k}" for k, v in sorted(profile.items()) if have.get(k) != v]
    owner = ctx.ledger.owner_of("okta_user", str(found["id"]))
    who = f"owned by parameter set {owner!r}" if owner else "owned by nobody in oktalab's ledgers"
    raise ForeignObject(
        step,
        "OktaUser",
        login,
        owner=owner,
        diffs=[*diffs, "credentials.password"],
        reason=f"user {found['id']} ({found.get('status')}) already has this login ({who})",
    )


def settle(
    ctx: Context,
    kind: str,
    name: str,
    find: Callable[[], dict[str, Any] | None],
    *,
    interval: float = 1.0,
) -> dict[str, Any] | None:
    """``find()`` by stable key, patient only after a crash.

    When nothing is found but this set holds an intent for ``name`` (a create was about to
    be sent when the last run died), the create may have happened while the list does not
    show it yet (list-after-create lag; the sandbox's ``hide_recent_ms``). Creating now would
    duplicate it, so the lookup is repeated every ``interval`` seconds until
    ``$OKTALAB_LIST_LAG_SECONDS`` (default 15) have passed; only then is the object taken as
    never created. Without an intent the first answer stands (no waiting in normal runs).
    """
    found = find()
    if found is not None or not ctx.ledger.intents(kind, name):
        return found
    deadline = time.monotonic() + float(os.environ.get(LIST_LAG_ENV, LIST_LAG_DEFAULT))
    while time.monotonic() < deadline:
        time.sleep(interval)
        found = find()
        if found is not None:
            return found
    return None
