"""OIDC from the client side: discovery, JWKS, and a headless authorization-code + PKCE login.

The headless login is what a person does in the guide's Token Preview: sign a user in and
look at the tokens. On an Identity Engine org (the default for new orgs) it takes the
interaction code flow (``/v1/interact``, ``/idp/idx/*``, ``grant_type=interaction_code``); on a
Classic org, primary authentication (``/api/v1/authn``) for a one-time ``sessionToken``, then
``/authorize`` with PKCE (without following the redirect) and ``/token``. The org says which it
is at ``/.well-known/okta-organization``. Either needs password alone to satisfy the org's
policies; otherwise the error names what Okta asked for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse, urlsplit

import httpx
import jwt

from . import tls
from .errors import OktaAPIError, ParameterError, VerificationError
from .ratelimit import BudgetTransport, budget_for, server_time
from .settings import Secret

Json = dict[str, Any]


@dataclass(frozen=True)
class Metadata:
    """The authorization server endpoints the guide exports as environment variables."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)
    #: seconds the server's clock is ahead of ours (its ``Date`` header minus the local time
    #: at the response; one-second resolution), measured when the metadata was read.
    clock_skew: float = field(default=0.0, compare=False)


def issuer_url(org_url: str, server_id: str) -> str:
    return f"{org_url.rstrip('/')}/oauth2/{server_id}"


def discover(
    org_url: str,
    server_id: str = "default",
    *,
    expected_issuer: str | None = None,
    http: httpx.Client | None = None,
) -> Metadata:
    """Read ``/.well-known/openid-configuration`` of a custom authorization server.

    The document's ``issuer`` must be identical to the issuer asked for (``expected_issuer``,
    default ``<org_url>/oauth2/<server_id>``): OpenID Connect Discovery 1.0 §4.3 says a client
    MUST NOT use metadata whose issuer differs, since tokens would carry that other issuer.
    Raises :class:`OktaAPIError` for a non-200 answer and :class:`VerificationError` for a
    document that lacks required fields or names another issuer.
    """
    expected = (expected_issuer or issuer_url(org_url, server_id)).rstrip("/")
    url = issuer_url(org_url, server_id) + "/.well-known/openid-configuration"
    client = http or httpx.Client(timeout=15, verify=tls.context())
    try:
        resp = client.get(url)
    finally:
        if http is None:
            client.close()
    skew = server_time(resp) - time.time()
    if resp.status_code != 200:
        raise OktaAPIError.from_response(resp.status_code, "GET", url, _json_or_none(resp))
    doc = resp.json()
    missing = [
        k
        for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not doc.get(k)
    ]
    if missing:
        raise VerificationError(f"discovery document at {url} lacks {', '.join(missing)}")
    if doc["issuer"] != expected:
        raise VerificationError(
            f"the discovery document at {url} names issuer {doc['issuer']!r}, but the issuer "
            f"asked for is {expected!r}; OpenID Connect Discovery 1.0 §4.3 requires them to be "
            "identical (check OKTA_ORG_URL, authorization_server and the org's issuer mode)"
        )
    return Metadata(
        issuer=doc["issuer"],
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        end_session_endpoint=doc.get("end_session_endpoint", ""),
        jwks_uri=doc["jwks_uri"],
        userinfo_endpoint=doc.get("userinfo_endpoint"),
        raw=doc,
        clock_skew=skew,
    )


def fetch_jwks(jwks_uri: str, *, http: httpx.Client | None = None) -> Json:
    client = http or httpx.Client(timeout=15, verify=tls.context())
    try:
        resp = client.get(jwks_uri)
    finally:
        if http is None:
            client.close()
    if resp.status_code != 200:
        raise OktaAPIError.from_response(resp.status_code, "GET", jwks_uri, _json_or_none(resp))
    return resp.json()


def signing_keys(jwks: Any) -> list[Json]:
    """Keys Gloo's ext-auth can use: ``use: sig`` with a ``kid`` (others are ignored by Gloo)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise VerificationError('the JWKS is not a JSON object with a "keys" array')
    return [
        k
        for k in jwks["keys"]
        if isinstance(k, dict) and k.get("use", "sig") == "sig" and k.get("kid")
    ]


def check_jwks(jwks: Any) -> list[str]:
    """Validate a JWKS before it is inlined into a policy; return the signing key ids."""
    keys = signing_keys(jwks)
    if not keys:
        raise VerificationError(
            "the JWKS holds no signing keys (use=sig with a kid); Gloo would validate no token with it"
        )
    for k in keys:
        try:
            jwt.PyJWK(k)
        except jwt.PyJWKError as exc:
            raise VerificationError(
                f"JWKS key {k.get('kid')!r} is not a usable key: {exc}"
            ) from None
    return [k["kid"] for k in keys]


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


@dataclass(frozen=True)
class Tokens:
    """Tokens from a login. The raw values are secrets: display :attr:`claims` instead."""

    access_token: Secret = field(repr=False)
    id_token: Secret | None = field(default=None, repr=False)
    refresh_token: Secret | None = field(default=None, repr=False)
    scope: str = ""
    sign_in: str = ""  # the path that signed in: "idx" (Identity Engine) or "authn" (Classic)

    def access_claims(self) -> Json:
        return decode_unverified(self.access_token.reveal())

    def id_claims(self) -> Json:
        return decode_unverified(self.id_token.reveal()) if self.id_token else {}

    def access_header(self) -> Json:
        return jwt.get_unverified_header(self.access_token.reveal())


def decode_unverified(token: str) -> Json:
    return jwt.decode(token, options={"verify_signature": False})


def verify_token(
    token: str,
    jwks: Json,
    *,
    audience: str | None = None,
    issuer: str | None = None,
    leeway: float = 0.0,
    clock_skew: float | None = None,
) -> Json:
    """Verify a JWT's signature (RS256, key by ``kid`` from ``jwks``) and its times.

    ``exp``, ``iat`` and ``nbf`` are checked with ``leeway`` seconds of tolerance (RFC 7519
    §4.1.4 allows "some small leeway ... to account for clock skew"). When they still fail,
    the :class:`VerificationError` reports ``clock_skew`` (seconds the server's clock is ahead
    of ours, from :attr:`Metadata.clock_skew`) so a wrong local clock is told apart from a
    token that really expired. Other failures raise ``jwt.PyJWTError`` subclasses.
    """
    header = jwt.get_unverified_header(token)
    for k in signing_keys(jwks):
        if k.get("kid") == header.get("kid"):
            key = jwt.PyJWK(k)
            try:
                return jwt.decode(
                    token,
                    key.key,
                    algorithms=["RS256"],
                    audience=audience,
                    issuer=issuer,
                    leeway=leeway,
                    options={"verify_aud": audience is not None},
                )
            except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
                raise VerificationError(
                    _time_failure(str(exc), token, leeway, clock_skew)
                ) from None
    raise VerificationError(f"no key with kid {header.get('kid')!r} in the JWKS")


SIGN_IN_MODES = ("auto", "idx", "authn")
ION = "application/ion+json; okta-version=1.0.0"
_MAX_IDX_STEPS = 8


def org_pipeline(org_url: str, *, http: httpx.Client | None = None) -> str | None:
    """The org's authentication pipeline: ``idx`` (Identity Engine) or ``v1`` (Classic).

    Read from ``GET /.well-known/okta-organization`` (Okta Management API
    ``getWellknownOrgMetadata``, field ``pipeline``); None when the org does not say.
    """
    url = f"{org_url.rstrip('/')}/.well-known/okta-organization"
    client = http or httpx.Client(timeout=15, verify=tls.context())
    try:
        resp = client.get(url, headers={"Accept": "application/json"})
    finally:
        if http is None:
            client.close()
    if resp.status_code != 200:
        return None
    body = _json_or_none(resp)
    value = body.get("pipeline") if isinstance(body, dict) else None
    return value if value in ("idx", "v1") else None


def choose_sign_in(org_url: str, mode: str = "auto", *, http: httpx.Client | None = None) -> str:
    """``idx`` or ``authn``: how to sign a user in on this org.

    ``mode`` ``idx``/``authn`` forces a path; ``auto`` asks the org for its pipeline (see
    :func:`org_pipeline`): Identity Engine → the interaction code flow, Classic → ``/api/v1/authn``.
    Raises ParameterError for an unknown mode, VerificationError when ``auto`` gets no answer.
    """
    if mode not in SIGN_IN_MODES:
        raise ParameterError([("sign_in", f"must be one of {', '.join(SIGN_IN_MODES)}")])
    if mode != "auto":
        return mode
    found = org_pipeline(org_url, http=http)
    if found is None:
        raise VerificationError(
            f"{org_url}/.well-known/okta-organization did not name the org's pipeline (idx or "
            "v1); set the parameter sign_in to idx (Identity Engine) or authn (Classic Engine)"
        )
    return "idx" if found == "idx" else "authn"


def _time_failure(reason: str, token: str, leeway: float, clock_skew: float | None) -> str:
    claims = decode_unverified(token)
    now = time.time()
    parts = [f"{reason} (checked with {leeway:g} s leeway"]
    if isinstance(claims.get("exp"), int | float):
        parts.append(f"; exp is {claims['exp'] - now:+.0f} s from the local clock")
    if isinstance(claims.get("iat"), int | float):
        parts.append(f", iat {claims['iat'] - now:+.0f} s")
    parts.append(")")
    if clock_skew is not None:
        direction = "ahead of" if clock_skew >= 0 else "behind"
        parts.append(
            f"; measured clock skew: the server's clock is {abs(clock_skew):.0f} s {direction} "
            "the local clock (its Date header)"
        )
        if abs(clock_skew) > leeway:
            parts.append(": fix the local clock (NTP) or raise clock_skew_seconds")
    return "".join(parts)


def headless_login(
    *,
    org_url: str,
    metadata: Metadata,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: Secret,
    scopes: list[str],
    client_secret: Secret | None = None,
    sign_in: str = "auto",
    http: httpx.Client | None = None,
) -> Tokens:
    """Sign ``username`` in without a browser and return the tokens (PKCE throughout).

    Identity Engine orgs: the interaction code flow (``/v1/interact``, ``/idp/idx/*``, then
    ``grant_type=interaction_code``; Okta's "Interaction Code grant type" guide), which needs the
    app's ``interaction_code`` grant. Classic orgs: ``/api/v1/authn`` for a one-time
    ``sessionToken``, then ``/authorize`` and ``/token``. ``sign_in`` is ``auto`` (ask the org,
    see :func:`choose_sign_in`), ``idx`` or ``authn``. Raises OktaAPIError when Okta refuses a
    request, VerificationError naming the remediation when Okta asks for more than a password
    (an MFA factor, a password change …).
    """
    # the org's rate-limit budget: /v1/interact, /idp/idx/* and /v1/token are metered
    client = http or httpx.Client(
        timeout=20, verify=tls.context(), transport=BudgetTransport(budget_for(org_url))
    )
    try:
        path = choose_sign_in(org_url, sign_in, http=client)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        nonce = secrets.token_urlsafe(16)
        if path == "idx":
            form = _idx_sign_in(
                client,
                org_url=org_url,
                metadata=metadata,
                client_id=client_id,
                redirect_uri=redirect_uri,
                username=username,
                password=password,
                scopes=scopes,
                client_secret=client_secret,
                pkce=(verifier, challenge),
                state=state,
                nonce=nonce,
            )
        else:
            form = _authn_sign_in(
                client,
                org_url=org_url,
                metadata=metadata,
                client_id=client_id,
                redirect_uri=redirect_uri,
                username=username,
                password=password,
                scopes=scopes,
                pkce=(verifier, challenge),
                state=state,
                nonce=nonce,
            )
        form["code_verifier"] = verifier
        auth: httpx.Auth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if client_secret is not None:
            auth = httpx.BasicAuth(client_id, client_secret.reveal())
        else:
            form["client_id"] = client_id
        tok = client.post(
            metadata.token_endpoint, data=form, auth=auth, headers={"Accept": "application/json"}
        )
        if tok.status_code != 200:
            raise OktaAPIError.from_response(tok.status_code, "POST", "/token", _json_or_none(tok))
        t = tok.json()
        tokens = Tokens(
            access_token=Secret(t["access_token"]),
            id_token=Secret(t["id_token"]) if t.get("id_token") else None,
            refresh_token=Secret(t["refresh_token"]) if t.get("refresh_token") else None,
            scope=t.get("scope", ""),
            sign_in=path,
        )
        if tokens.id_token and tokens.id_claims().get("nonce") != nonce:
            raise VerificationError("the ID token's nonce does not match the one sent")
        return tokens
    finally:
        if http is None:
            client.close()


def _authn_sign_in(
    client: httpx.Client,
    *,
    org_url: str,
    metadata: Metadata,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: Secret,
    scopes: list[str],
    pkce: tuple[str, str],
    state: str,
    nonce: str,
) -> dict[str, str]:
    """Classic Engine: ``/api/v1/authn`` → ``sessionToken`` → ``/authorize`` → the token form."""
    authn = client.post(
        f"{org_url.rstrip('/')}/api/v1/authn",
        json={"username": username, "password": password.reveal()},
        headers={"Accept": "application/json"},
    )
    if authn.status_code != 200:
        raise OktaAPIError.from_response(
            authn.status_code, "POST", "/api/v1/authn", _json_or_none(authn)
        )
    body = authn.json()
    if body.get("status") != "SUCCESS":
        raise VerificationError(
            f"primary authentication for {username} ended in {body.get('status')}, not SUCCESS"
            + (
                f" (Okta asks for {body['_links']['next'].get('name')})"
                if isinstance(body.get("_links"), dict)
                and isinstance(body["_links"].get("next"), dict)
                else ""
            )
        )
    resp = client.get(
        metadata.authorization_endpoint,
        params={
            "client_id": client_id,
            "response_type": "code",
            "scope": " ".join(scopes),
            "redirect_uri": redirect_uri,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce[1],
            "code_challenge_method": "S256",
            "sessionToken": body["sessionToken"],
        },
        follow_redirects=False,
    )
    if resp.status_code not in (302, 303):
        raise VerificationError(
            f"/authorize answered {resp.status_code}, expected a redirect to {redirect_uri}"
        )
    location = resp.headers.get("location", "")
    query = parse_qs(urlparse(location).query)
    if "error" in query:
        raise OktaAPIError(
            status=resp.status_code,
            method="GET",
            url="/authorize",
            error_code=query["error"][0],
            summary=query.get("error_description", [""])[0],
        )
    if not redirect_matches(location, redirect_uri) or "code" not in query:
        raise VerificationError(
            "/authorize did not redirect to the app with a code (is the redirect URI registered?)"
        )
    if query.get("state", [""])[0] != state:
        raise VerificationError("/authorize returned a different state: refusing the code")
    return {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": redirect_uri,
    }


def _resolve(doc: Json, ref: Any) -> Json:
    """Resolve an IDX ``relatesTo`` JSONPath such as ``$.authenticators.value[0]``."""
    if isinstance(ref, dict):
        return ref
    if isinstance(ref, list):
        ref = ref[0] if ref else ""
    node: Any = doc
    for part in re.findall(r"[A-Za-z_]+|\[\d+\]", str(ref).removeprefix("$.")):
        if part.startswith("["):
            index = int(part[1:-1])
            node = node[index] if isinstance(node, list) and index < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get("value"), dict):
        return node["value"]
    return node if isinstance(node, dict) else {}


def describe_remediation(doc: Json, form: Json) -> str:
    """``name (authenticator keys)`` for a remediation form, as in Okta's IDX response."""
    keys: list[str] = []
    if form.get("relatesTo"):
        key = _resolve(doc, form["relatesTo"]).get("key")
        if key:
            keys.append(str(key))
    for field_ in form.get("value") or []:
        for option in field_.get("options") or [] if isinstance(field_, dict) else []:
            key = _resolve(doc, option.get("relatesTo")).get("key") if option else None
            if key:
                keys.append(str(key))
    name = str(form.get("name", "?"))
    return f"{name} ({', '.join(keys)})" if keys else name


def _idx_messages(doc: Json) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            msgs = node.get("messages")
            if isinstance(msgs, dict):
                for m in msgs.get("value") or []:
                    if isinstance(m, dict) and m.get("message"):
                        found.append(str(m["message"]))
            for key, value in node.items():
                if key != "messages":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return list(dict.fromkeys(found))


def _idx_post(client: httpx.Client, form: Json, values: Json) -> tuple[int, Json]:
    body = {
        f["name"]: f.get("value")
        for f in form.get("value") or []
        if isinstance(f, dict) and f.get("mutable") is False
    }
    body.update(values)
    resp = client.post(
        str(form.get("href")),
        json=body,
        headers={"Accept": ION, "Content-Type": str(form.get("accepts") or "application/json")},
    )
    doc = _json_or_none(resp)
    if not isinstance(doc, dict):
        raise VerificationError(
            f"Okta's {form.get('href')} answered HTTP {resp.status_code} without an IDX body"
        )
    return resp.status_code, doc


def _idx_sign_in(
    client: httpx.Client,
    *,
    org_url: str,
    metadata: Metadata,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: Secret,
    scopes: list[str],
    client_secret: Secret | None,
    pkce: tuple[str, str],
    state: str,
    nonce: str,
) -> dict[str, str]:
    """Identity Engine: interact → introspect → identify → password → the token form."""
    interact_url = (
        metadata.raw.get("interact_endpoint")
        or metadata.token_endpoint.rsplit("/", 1)[0] + "/interact"
    )
    params = {
        "client_id": client_id,
        "scope": " ".join(scopes),
        "redirect_uri": redirect_uri,
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce[1],
        "code_challenge_method": "S256",
    }
    if client_secret is not None:
        params["client_secret"] = client_secret.reveal()
    resp = client.post(interact_url, data=params, headers={"Accept": "application/json"})
    if resp.status_code != 200:
        err = OktaAPIError.from_response(
            resp.status_code, "POST", "/v1/interact", _json_or_none(resp)
        )
        if err.error_code == "unauthorized_client":
            raise VerificationError(
                f"{err} — the Identity Engine sign-in needs the app's Interaction Code grant "
                "(grant type interaction_code; the okta_app stage adds it on Identity Engine orgs)"
            ) from None
        raise err
    handle = resp.json().get("interaction_handle")
    domain = org_url.rstrip("/")
    r = client.post(
        f"{domain}/idp/idx/introspect",
        json={"interactionHandle": handle},
        headers={"Accept": ION, "Content-Type": ION},
    )
    status, doc = r.status_code, _json_or_none(r)
    if not isinstance(doc, dict):
        raise VerificationError(f"/idp/idx/introspect answered HTTP {r.status_code}")
    used: list[str] = []
    for _ in range(_MAX_IDX_STEPS):
        success = doc.get("successWithInteractionCode")
        if isinstance(success, dict):
            code = next(
                (
                    f.get("value")
                    for f in success.get("value") or []
                    if f.get("name") == "interaction_code"
                ),
                None,
            )
            if not code:
                raise VerificationError(
                    "Okta's successWithInteractionCode holds no interaction_code"
                )
            return {"grant_type": "interaction_code", "interaction_code": str(code)}
        forms = {
            str(f.get("name")): f
            for f in ((doc.get("remediation") or {}).get("value") or [])
            if isinstance(f, dict)
        }
        messages = _idx_messages(doc)
        if status >= 400 and messages:
            raise VerificationError(
                f"Okta refused the Identity Engine sign-in of {username}: "
                + " ".join(messages)
                + (f" (after {', '.join(used)})" if used else "")
            )
        values: Json
        if "identify" in forms and "identify" not in used:
            name, values = "identify", {"identifier": username}
            if any(f.get("name") == "credentials" for f in forms["identify"].get("value") or []):
                values["credentials"] = {"passcode": password.reveal()}
        elif (
            "challenge-authenticator" in forms
            and _resolve(doc, forms["challenge-authenticator"].get("relatesTo")).get("key")
            == "okta_password"
            and "challenge-authenticator" not in used
        ):
            name, values = (
                "challenge-authenticator",
                {"credentials": {"passcode": password.reveal()}},
            )
        elif (
            "select-authenticator-authenticate" in forms
            and "select-authenticator-authenticate" not in used
        ):
            form = forms["select-authenticator-authenticate"]
            option = next(
                (
                    o
                    for f in form.get("value") or []
                    for o in f.get("options") or []
                    if _resolve(doc, o.get("relatesTo")).get("key") == "okta_password"
                ),
                None,
            )
            if option is None:
                raise VerificationError(
                    "Okta asks for an MFA factor: "
                    + describe_remediation(doc, form)
                    + f"; the test user {username} must be able to sign in with a password alone"
                )
            picked = {
                f["name"]: f.get("value")
                for f in ((option.get("value") or {}).get("form") or {}).get("value") or []
            }
            name, values = "select-authenticator-authenticate", {"authenticator": picked}
        else:
            asked = ", ".join(describe_remediation(doc, f) for f in forms.values()) or "nothing"
            raise VerificationError(
                f"Okta asks for a step oktalab cannot take for {username}: {asked}"
                + (f" ({' '.join(messages)})" if messages else "")
            )
        used.append(name)
        status, doc = _idx_post(client, forms[name], values)
    raise VerificationError(f"the Identity Engine sign-in did not finish after {', '.join(used)}")


def client_credentials_valid(
    metadata: Metadata, client_id: str, secret: Secret, *, http: httpx.Client | None = None
) -> bool:
    """Ask the introspection endpoint with these client credentials: 401 means they are wrong.

    Introspecting a dummy token changes nothing and answers ``{"active": false}`` to a client
    that authenticated, so a stored secret can be checked without knowing the real one.
    """
    endpoint = metadata.raw.get("introspection_endpoint") or metadata.token_endpoint.replace(
        "/token", "/introspect"
    )
    issuer = urlsplit(metadata.issuer)
    org = f"{issuer.scheme}://{issuer.netloc}"
    client = http or httpx.Client(
        timeout=15, verify=tls.context(), transport=BudgetTransport(budget_for(org))
    )
    try:
        resp = client.post(
            endpoint,
            data={"token": "oktalab-credential-check", "token_type_hint": "access_token"},
            auth=(client_id, secret.reveal()),
            headers={"Accept": "application/json"},
        )
    finally:
        if http is None:
            client.close()
    if resp.status_code == 200:
        return True
    if resp.status_code in (400, 401):
        return False
    raise OktaAPIError.from_response(resp.status_code, "POST", endpoint, _json_or_none(resp))


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except (ValueError, json.JSONDecodeError):
        return None


def redirect_matches(location: str, redirect_uri: str) -> bool:
    """Whether a redirect ``location`` goes to the registered ``redirect_uri`` exactly: same
    scheme, host, port (default ports made explicit) and path; no user information. A
    location that merely starts with the URI (``…/callback.evil``, ``…/callback@evil``) does
    not match (RFC 6749 §3.1.2 / OAuth 2.0 Security BCP: exact redirect URI matching)."""
    a, b = urlsplit(location), urlsplit(redirect_uri)
    defaults = {"http": 80, "https": 443}
    try:
        pa = a.port or defaults.get(a.scheme.lower())
        pb = b.port or defaults.get(b.scheme.lower())
    except ValueError:
        return False
    return (
        a.scheme.lower() == b.scheme.lower()
        and (a.hostname or "") == (b.hostname or "")
        and pa == pb
        and a.path == b.path
        and a.username is None
        and a.password is None
    )
