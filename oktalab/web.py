"""Two ways to click through sign-in pages: Chromium (Playwright) or a form-driving HTTP client.

The browser driver works with any pages, Okta's JavaScript Sign-In Widget included. The HTTP
driver reads plain HTML forms and links, which is enough for the sandbox's hosted pages and
portal; it needs no browser, so it also runs on Binder. Both map host names to addresses
(``resolve``), as the guide's /etc/hosts entries do.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

from . import tls
from .errors import VerificationError

T = TypeVar("T")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_available() -> bool:
    if chromium_path() is None:
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


# -- HTML reading ------------------------------------------------------------------------------
@dataclass
class Form:
    action: str
    method: str
    inputs: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.forms: list[Form] = []
        self.labels: dict[str, str] = {}
        self.text: list[str] = []
        self._a: dict[str, str] | None = None
        self._a_text: list[str] = []
        self._label_for: str | None = None
        self._label_text: list[str] = []
        self._button: dict[str, str] | None = None
        self._button_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a":
            self._a, self._a_text = a, []
        elif tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag in ("input", "select", "textarea") and self.forms:
            self.forms[-1].inputs.append({"tag": tag, **a})
            if a.get("type") == "submit":
                self.forms[-1].buttons.append({"text": a.get("value", ""), **a})
        elif tag == "button":
            self._button, self._button_text = a, []
        elif tag == "label":
            self._label_for, self._label_text = a.get("for"), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._a is not None:
            self.links.append((" ".join("".join(self._a_text).split()), self._a.get("href", "")))
            self._a = None
        elif tag == "button" and self._button is not None:
            text = " ".join("".join(self._button_text).split())
            if self.forms:
                self.forms[-1].buttons.append({"text": text, **self._button})
            self._button = None
        elif tag == "label" and self._label_for is not None:
            self.labels[self._label_for] = " ".join("".join(self._label_text).split())
            self._label_for = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._a is not None:
            self._a_text.append(data)
        if self._button is not None:
            self._button_text.append(data)
        if self._label_for is not None:
            self._label_text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def page_text(html: str) -> str:
    return " ".join("".join(parse(html).text).split())


class _Resolving(httpx.HTTPTransport):
    """Connect to mapped addresses while keeping the original Host header (like /etc/hosts)."""

    def __init__(self, resolve: dict[str, str]) -> None:
        super().__init__(verify=tls.context())
        self.resolve = resolve

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.resolve.get(request.url.host)
        if not target:
            return super().handle_request(request)
        # A copy goes over the wire; the client keeps the original URL for cookies and redirects.
        wire = httpx.Request(
            request.method,
            request.url.copy_with(host=target),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return super().handle_request(wire)


def authorize_redirect(
    start_urls: list[str], authorization_endpoint: str, *, resolve: dict[str, str] | None = None
) -> dict[str, list[str]] | None:
    """Follow the redirects from a relying party's login URL(s) to the IdP's authorization
    endpoint, without following that last one; return its query parameters, or None when no
    start URL leads there within a few hops. Used to see what a portal sends (e.g. PKCE)."""
    from urllib.parse import parse_qs, urljoin, urlsplit

    target = urlsplit(authorization_endpoint)
    with httpx.Client(
        transport=_Resolving(resolve or {}), timeout=10, verify=tls.context()
    ) as http:
        for url in start_urls:
            for _ in range(6):
                try:
                    resp = http.get(url, follow_redirects=False)
                except httpx.HTTPError:
                    break
                location = resp.headers.get("location")
                if resp.status_code not in (301, 302, 303, 307, 308) or not location:
                    break
                url = urljoin(url, location)
                parts = urlsplit(url)
                if parts.path == target.path and parts.port == target.port:
                    return parse_qs(parts.query)
    return None


class FormBrowser:
    """Follows links and submits forms like a person, without JavaScript."""

    def __init__(self, *, resolve: dict[str, str] | None = None, timeout: float = 20) -> None:
        self.http = httpx.Client(
            transport=_Resolving(resolve or {}),
            follow_redirects=True,
            timeout=timeout,
            verify=tls.context(),
        )
        self.url = ""
        self.html = ""
        self.status = 0

    def close(self) -> None:
        self.http.close()

    def goto(self, url: str) -> str:
        resp = self.http.get(url)
        return self._take(resp)

    def _take(self, resp: httpx.Response) -> str:
        """Keep the page whatever its status, as a browser shows an error page."""
        self.url, self.html, self.status = str(resp.url), resp.text, resp.status_code
        return self.html

    @property
    def text(self) -> str:
        return page_text(self.html)

    def click(self, name: str) -> str:
        """Follow the link, or submit the form of the button, whose text is ``name``."""
        page = parse(self.html)
        want = name.casefold()
        for text, href in page.links:
            if text.casefold() == want and href and not href.startswith("javascript:"):
                return self.goto(urljoin(self.url, href))
        for form in page.forms:
            for b in form.buttons:
                if b.get("text", "").casefold() == want:
                    return self._submit(form, {}, b)
        raise VerificationError(f"no link or button {name!r} on {self.url} (HTTP {self.status})")

    def fill_and_submit(
        self, values: Callable[[str], str | None], button: str | None = None
    ) -> str:
        """Fill the page's form: ``values(key)`` is asked for each input's label or name."""
        page = parse(self.html)
        if not page.forms:
            raise VerificationError(f"no form on {self.url}")
        form = max(page.forms, key=lambda f: len(f.inputs))
        filled: dict[str, str] = {}
        for inp in form.inputs:
            if inp.get("type") in ("hidden", "submit", "button") or not inp.get("name"):
                continue
            key = (
                page.labels.get(inp.get("id", ""), "") or inp.get("placeholder", "") or inp["name"]
            )
            value = values(key) or values(inp["name"])
            if value is not None:
                filled[inp["name"]] = value
        chosen = None
        if button:
            chosen = next(
                (b for b in form.buttons if b.get("text", "").casefold() == button.casefold()), None
            )
        return self._submit(form, filled, chosen)

    def has_inputs(self) -> bool:
        """Whether the page holds a form with a field to fill."""
        return any(
            i.get("type") not in ("hidden", "submit", "button", "checkbox") and i.get("name")
            for f in parse(self.html).forms
            for i in f.inputs
        )

    def _submit(self, form: Form, values: dict[str, str], button: dict[str, str] | None) -> str:
        data = {
            i["name"]: i.get("value", "")
            for i in form.inputs
            if i.get("name") and i.get("type") not in ("submit", "button")
        }
        data.update(values)
        if button and button.get("name"):
            data[button["name"]] = button.get("value", "")
        url = urljoin(self.url, form.action or self.url)
        if form.method == "post":
            return self._take(self.http.post(url, data=data))
        return self._take(self.http.get(url, params=data))


CHOOSE_BUTTONS = ("Set up", "Select", "Continue")


def complete_steps(
    driver: Any, values: Callable[[str], str | None], done: Callable[[], bool], max_steps: int = 6
) -> int:
    """Fill and submit page after page until ``done()``: a sign-in or sign-up that takes several
    steps, as Okta's Sign-In Widget asks for the username, then the password, and on sign-up
    the profile, a choice of authenticator ("Set up"), then the new password.

    Stops early when a step leaves the page as it was (an error is shown). Returns the number
    of steps taken; works with :class:`FormBrowser` and :class:`BrowserDriver`.
    """
    steps = 0
    while steps < max_steps and not done():
        before = (driver.url, driver.text)
        if driver.has_inputs():
            driver.fill_and_submit(values)
        else:
            for name in CHOOSE_BUTTONS:
                try:
                    driver.click(name)
                    break
                except VerificationError:
                    continue
            else:
                break
        steps += 1
        if (driver.url, driver.text) == before:
            break
    return steps


def field_value(profile: dict[str, str], password: str) -> Callable[[str], str | None]:
    """Map a form field's label or name to the user's value (Okta's and the sandbox's wording)."""

    def pick(key: str) -> str | None:
        k = re.sub(r"[^a-z]", "", key.casefold())
        if "password" in k:
            return password
        if "first" in k or k == "givenname":
            return profile.get("firstName")
        if "last" in k or k in ("familyname", "surname"):
            return profile.get("lastName")
        if "email" in k or k in ("username", "login", "identifier"):
            return profile.get("email")
        if "organization" in k:
            return profile.get("organization", "oktalab")
        return None

    return pick


def in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread: Playwright's sync API refuses a thread with a running loop
    (a Jupyter kernel has one)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def screenshot_path(run_dir: Path, name: str) -> Path:
    path = run_dir / "screenshots" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class BrowserDriver:
    """The same four verbs as :class:`FormBrowser`, driving Chromium through Playwright.

    Create, use and close it inside one thread (see :func:`in_thread`).
    """

    def __init__(self, *, resolve: dict[str, str] | None = None, timeout_ms: int = 15000) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        args = list(CHROMIUM_FLAGS)
        if resolve:
            args.append(
                "--host-resolver-rules=" + ", ".join(f"MAP {h} {a}" for h, a in resolve.items())
            )
        self._browser = self._pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=args
        )
        self._context = self._browser.new_context()
        self.page = self._context.new_page()
        self.page.set_default_timeout(timeout_ms)
        self.timeout_ms = timeout_ms

    def close(self) -> None:
        self._context.close()
        self._browser.close()
        self._pw.stop()

    @property
    def url(self) -> str:
        return self.page.url

    @property
    def text(self) -> str:
        return " ".join(self._retry(lambda: self.page.inner_text("body")).split())

    def _retry(self, read: Callable[[], str]) -> str:
        """Read the page, waiting out a navigation in progress (a script may redirect)."""
        for _ in range(50):
            try:
                return read()
            except Exception:  # Playwright: "the page is navigating and changing the content"
                self.page.wait_for_timeout(100)
        return read()

    def _content(self) -> str:
        return self._retry(self.page.content)

    def goto(self, url: str) -> str:
        self.page.goto(url)
        return self._content()

    def _settle(self, before: tuple[str, str]) -> None:
        """Wait until the page moved on: a new URL, or new content drawn by script (Okta's
        Sign-In Widget swaps views without navigating), then for the network to go quiet."""
        deadline = time.monotonic() + self.timeout_ms / 1000
        while time.monotonic() < deadline:
            try:
                if (self.page.url, self.text) != before:
                    break
            except Exception:  # the page is navigating; ask again
                pass
            self.page.wait_for_timeout(100)
        self.page.wait_for_load_state()
        try:
            self.page.wait_for_load_state("networkidle", timeout=5000)
        except Exception:  # long-polling pages never go idle; the load state is enough
            pass

    def _snapshot(self) -> tuple[str, str]:
        try:
            return self.page.url, self.text
        except Exception:
            return self.page.url, ""

    def click(self, name: str) -> str:
        for role in ("link", "button"):
            loc = self.page.get_by_role(role, name=name, exact=True)
            if loc.count():
                before = self._snapshot()
                loc.first.click()
                self._settle(before)
                return self._content()
        # scripted pages (Okta's widget) make anchors without href, which have no link role
        loc = self.page.locator("a:visible, button:visible, [role=button]:visible").filter(
            has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")
        )
        if loc.count():
            before = self._snapshot()
            loc.first.click()
            self._settle(before)
            return self._content()
        raise VerificationError(f"no link or button {name!r} on {self.page.url}")

    def has_inputs(self) -> bool:
        """Whether the page shows a field to fill (text, email, password …)."""
        return bool(
            self.page.locator(
                "input:visible:not([type=hidden]):not([type=submit]):not([type=button])"
                ":not([type=checkbox])"
            ).count()
        )

    def fill_and_submit(
        self, values: Callable[[str], str | None], button: str | None = None
    ) -> str:
        inputs = self.page.locator("input:visible")
        for i in range(inputs.count()):
            el = inputs.nth(i)
            if (el.get_attribute("type") or "text") in ("hidden", "submit", "button", "checkbox"):
                continue
            label = el.evaluate(
                "e => (e.labels && e.labels[0] && e.labels[0].innerText) || e.getAttribute('aria-label') || e.placeholder || e.name || ''"
            )
            value = values(label) or values(el.get_attribute("name") or "")
            if value is not None:
                el.fill(value)
        before = self._snapshot()
        if button:
            self.page.get_by_role("button", name=button, exact=True).first.click()
        else:
            self.page.locator("[type=submit]:visible").first.click()
        self._settle(before)
        return self._content()

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path), full_page=True)
