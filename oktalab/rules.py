"""Syntax rules of the systems that receive oktalab's parameters, checked before any call.

Each function takes a value and returns it (possibly normalised) or raises ``ValueError``
with a message that says what was expected, so that :mod:`oktalab.params` can prefix the
field path. The rules are the receiving system's, with their sources:

- URIs: RFC 3986 (syntax, via ``rfc3986_validator``), RFC 6749 §3.1.2 (redirection endpoint:
  absolute, no fragment), Okta's app settings (``wildcard_redirect: DISABLED``, which oktalab
  sets, so no ``*``; sign-in redirects to a browser: ``http``/``https``).
- Kubernetes: ``k8s.io/apimachinery/pkg/util/validation`` (DNS-1123 label and subdomain,
  qualified names for label keys, label values, ``IsConfigMapKey`` for Secret keys,
  ``IsValidPortName`` = IANA_SVC_NAME of RFC 6335 §5.1).
- HTTP: RFC 9110 §5.5 field values (no CTL, so no CR/LF/NUL), plus no Unicode format
  characters (zero-width, bidi controls), which render invisibly.
- OAuth 2.0 scope tokens: RFC 6749 §3.3 (``%x21 / %x23-5B / %x5D-7E``).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from rfc3986_validator import validate_rfc3986

__all__ = [
    "authorization_server_id",
    "dns1123_label",
    "dns1123_subdomain",
    "header_value",
    "host_name",
    "http_url",
    "label_value",
    "plain_text",
    "port",
    "port_name",
    "qualified_name",
    "redirect_uri",
    "scope_token",
    "secret_key",
    "url_path",
]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_OKTA_ID = re.compile(r"^[A-Za-z0-9]{20}$")  # Okta object ids: 20 characters [0-9A-Za-z]
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def invisible_or_control(value: str) -> str | None:
    """The first character of ``value`` that is a control (Cc) or format (Cf) character,
    described (``'U+200B ZERO WIDTH SPACE'``), else None. Such characters end headers early
    (CR/LF), truncate C strings (NUL) or hide in plain sight (zero-width, bidi overrides)."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            name = unicodedata.name(ch, "control character")
            return f"U+{ord(ch):04X} {name}"
    return None


def plain_text(value: str, what: str = "text") -> str:
    """Any printable text: no control or invisible characters (see :func:`invisible_or_control`)."""
    bad = invisible_or_control(value)
    if bad:
        raise ValueError(f"expected {what} without control or invisible characters, found {bad}")
    return value


def dns1123_label(value: str, what: str = "a Kubernetes name (DNS-1123 label)") -> str:
    """RFC 1123 label as Kubernetes checks it: ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63."""
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"expected {what}: lower-case letters, digits and '-', starting and ending with a "
            f"letter or digit, at most 63 characters; got {value!r}"
        )
    return value


def dns1123_subdomain(value: str, what: str = "a DNS-1123 subdomain") -> str:
    """Dot-separated DNS-1123 labels, at most 253 characters (Kubernetes object names)."""
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"expected {what}: lower-case letters, digits, '-' and '.', each part starting and "
            f"ending with a letter or digit, at most 253 characters; got {value!r}"
        )
    return value


def qualified_name(value: str, what: str = "a Kubernetes label key") -> str:
    """``[prefix/]name``: name at most 63 of ``[A-Za-z0-9_.-]`` starting and ending
    alphanumeric; the optional prefix a DNS-1123 subdomain (Kubernetes ``IsQualifiedName``)."""
    prefix, _, name = value.rpartition("/")
    if "/" in value and not prefix:
        raise ValueError(f"expected {what}: the prefix before '/' is empty in {value!r}")
    if prefix:
        dns1123_subdomain(prefix, f"{what} prefix (a DNS-1123 subdomain)")
    if not name or len(name) > 63 or not _QUALIFIED_NAME_PART.match(name):
        raise ValueError(
            f"expected {what}: [prefix/]name, name at most 63 characters of letters, digits, "
            f"'-', '_' and '.', starting and ending with a letter or digit; got {value!r}"
        )
    return value


def label_value(value: str) -> str:
    """Kubernetes label value: empty, or at most 63 of ``[A-Za-z0-9_.-]`` starting and
    ending alphanumeric (``IsValidLabelValue``)."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            "expected a Kubernetes label value: at most 63 characters of letters, digits, '-', "
            f"'_' and '.', starting and ending with a letter or digit; got {value!r}"
        )
    return value


def secret_key(value: str) -> str:
    """A key of a Secret's ``data``: ``[-._a-zA-Z0-9]+``, at most 253, not ``.``/``..``
    (Kubernetes ``IsConfigMapKey``; the key becomes a file name when mounted)."""
    if len(value) > 253 or not _CONFIG_MAP_KEY.match(value) or value in (".", ".."):
        raise ValueError(
            "expected a Secret data key: letters, digits, '-', '_' and '.', at most 253 "
            f"characters, not '.' or '..'; got {value!r}"
        )
    return value


def port_name(value: str) -> str:
    """A Service port name (IANA_SVC_NAME, RFC 6335 §5.1): at most 15 of ``[-a-z0-9]``, at
    least one letter, no leading, trailing or double '-' (Kubernetes ``IsValidPortName``)."""
    if (
        not 1 <= len(value) <= 15
        or not _PORT_NAME.match(value)
        or not re.search(r"[a-z]", value)
        or value.startswith("-")
        or value.endswith("-")
        or "--" in value
    ):
        raise ValueError(
            "expected a port name (IANA service name): at most 15 lower-case letters, digits "
            f"and '-', at least one letter, no leading, trailing or double '-'; got {value!r}"
        )
    return value


def port(value: int) -> int:
    """A TCP port, 1..65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"expected a TCP port from 1 to 65535, got {value!r}")
    return value


def host_name(value: str, what: str = "a host name") -> str:
    """A DNS host name (RFC 1123 labels, at most 253) or an IP literal; no scheme, port, path."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.split(".")
    if (
        not value
        or len(value) > 253
        or not all(_HOST_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(
            f"expected {what}: letters, digits, '-' and '.', without scheme, port or path; "
            f"got {value!r}"
        )
    return value


def _authority_host(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(f"expected {what} without user information ('user@'), got {url!r}")
    try:
        p = parts.port
    except ValueError:
        p = -1
    if p is not None and not 1 <= p <= 65535:
        raise ValueError(f"expected {what} with a port from 1 to 65535, got {url!r}")
    host = parts.hostname or ""
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            raise ValueError(f"expected {what} with a valid IPv6 host, got {url!r}") from None
    else:
        host_name(host, f"{what} with a valid host name")


def http_url(value: str, what: str = "an absolute http(s) URL") -> str:
    """An absolute ``http``/``https`` URL per RFC 3986: a host, a port 1..65535, no user
    information, no fragment, no whitespace or control characters."""
    plain_text(value, what)
    if not validate_rfc3986(value, rule="URI"):
        raise ValueError(f"expected {what}, valid per RFC 3986; got {value!r}")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected {what}: scheme http or https and a host, got {value!r}")
    if "#" in value:
        raise ValueError(f"expected {what} without a fragment ('#...'), got {value!r}")
    _authority_host(value, what)
    return value


def redirect_uri(value: str) -> str:
    """An OAuth 2.0 redirection endpoint as Okta registers it for browser and web apps.

    RFC 6749 §3.1.2: an absolute URI (RFC 3986 §4.3) without a fragment. Okta: exact
    match at /authorize, ``*`` only with ``wildcard_redirect: SUBDOMAIN`` (oktalab registers
    ``DISABLED``). The guides' redirects land in a browser, so the scheme is http or https.
    User information is refused (browsers strip or warn; it would leak into logs).
    """
    what = "an absolute http(s) URL as a redirect URI (RFC 6749 §3.1.2)"
    if "*" in value:
        raise ValueError(
            f"expected {what} without '*': oktalab registers wildcard_redirect DISABLED; "
            f"got {value!r}"
        )
    return http_url(value, what)


def url_path(value: str, what: str = "a URL path") -> str:
    """An absolute path (RFC 3986 ``path-absolute``, optional query), no fragment, no
    ``..`` segment, no whitespace or control characters."""
    plain_text(value, what)
    if not value.startswith("/") or value.startswith("//"):
        raise ValueError(f"expected {what} starting with a single '/', got {value!r}")
    if not validate_rfc3986(value, rule="URI_reference") or "#" in value or " " in value:
        raise ValueError(f"expected {what} (RFC 3986 syntax, no fragment or spaces), got {value!r}")
    if any(seg in ("..", ".") for seg in value.split("?", 1)[0].split("/")):
        raise ValueError(f"expected {what} without '.' or '..' segments, got {value!r}")
    return value


def header_value(value: str, what: str = "an HTTP header value") -> str:
    """RFC 9110 §5.5 field value: visible ASCII, space and tab (no CR, LF, NUL or other
    controls), no leading or trailing whitespace, and no invisible Unicode characters."""
    plain_text(value, what)
    if value != value.strip(" \t") or not value:
        raise ValueError(f"expected {what} without leading or trailing whitespace, got {value!r}")
    if any(ord(c) > 0x7E for c in value):
        raise ValueError(f"expected {what} of visible ASCII characters (RFC 9110), got {value!r}")
    return value


def scope_token(value: str) -> str:
    """An OAuth 2.0 scope token (RFC 6749 §3.3): printable ASCII except space, ``"`` and ``\\``."""
    if not _SCOPE_TOKEN.match(value):
        raise ValueError(
            "expected an OAuth scope name (RFC 6749 §3.3: printable ASCII without spaces, "
            f"'\"' or '\\'), got {value!r}"
        )
    return value


def authorization_server_id(value: str) -> str:
    """``default`` or an Okta authorization server id (20 letters and digits).

    The id becomes a path segment (``/oauth2/{id}``, ``/api/v1/authorizationServers/{id}``),
    so '/', '..' and anything else are refused. The org authorization server (``""``/``org``)
    is refused too: its access tokens are for Okta's own APIs and are signed with a key it does
    not publish, so Gloo cannot validate them locally (Okta: "Authorization servers" overview).
    """
    if value in ("", "org"):
        raise ValueError(
            "the org authorization server cannot be used: Gloo validates access tokens "
            "locally with the server's JWKS, and the org server's access tokens are not "
            "verifiable that way; use 'default' or a custom authorization server id"
        )
    if value != "default" and not _OKTA_ID.match(value):
        raise ValueError(
            "expected 'default' or an Okta authorization server id (20 letters and digits, "
            f"e.g. aus1a2b3c4d5e6f7g8h9), got {value!r}"
        )
    return value
