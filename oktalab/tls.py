"""One TLS context per process, shared by every HTTP client oktalab makes.

httpx builds a new ``ssl.SSLContext`` for each ``Client`` and ``HTTPTransport`` it creates,
loading the whole CA bundle each time (tens of CPU-milliseconds). A stage makes several
clients (the Okta API, discovery, JWKS, the gateway checks), so a batch of 64 notebooks
spent more CPU building TLS contexts than calling the sandbox. The context is made the way
httpx makes its default one (``httpx.create_ssl_context()``: certifi's bundle, or
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set), once.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def context() -> ssl.SSLContext:
    """The process's TLS context for ``verify=`` (certificate and host name checked)."""
    import httpx

    return httpx.create_ssl_context()
