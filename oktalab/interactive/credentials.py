"""Tab 2, credentials: the secrets a run needs, into this kernel's environment only.

Secrets are never parameters and never widget state: :class:`SecretsForm` copies a Password
widget's value into the environment and clears the widget at once, so a notebook saved with
widget state holds nothing secret (notebooks.md, section 4). :func:`ask_secret` is the
console alternative (``getpass``).
"""

from __future__ import annotations

import os

SECRET_VARS = ("OKTA_API_TOKEN", "OKTALAB_TEST_PASSWORD")


PLAIN_VARS = ("OKTA_ORG_URL", "KUBECONFIG", "OKTALAB_GATEWAY_URL", "OKTALAB_TEST_USERNAME")


def ask_secret(name: str) -> bool:
    """Read a secret with ``getpass`` (nothing echoed or kept in outputs) into the environment."""
    from getpass import getpass

    value = getpass(f"{name}: ")
    if value:
        os.environ[name] = value
    return bool(value)


class SecretsForm:
    """Credentials for a real org: Password widgets that are emptied as soon as they are applied.

    The values go to this kernel's environment only (where :class:`oktalab.Environment`
    reads them); the widgets then hold empty strings, so saved widget state holds no secret.
    A value already in the environment is reported as set, never shown.
    """

    def __init__(self) -> None:
        import ipywidgets as w

        style = {"description_width": "200px"}
        self.plain = {
            k: w.Text(description=k, value=os.environ.get(k, ""), style=style) for k in PLAIN_VARS
        }
        self.secret = {
            k: w.Password(description=k, placeholder=self._hint(k), style=style)
            for k in SECRET_VARS
        }
        self.apply_button = w.Button(description="Apply", icon="key")
        self.apply_button.on_click(lambda _: self.apply())
        self.status = w.HTML()
        self.widget = w.VBox(
            [
                w.HTML(
                    "Only for <code>target: external</code>. The sandbox provides its own "
                    "credentials. Values go to this kernel's environment, never to the notebook."
                ),
                *self.plain.values(),
                *self.secret.values(),
                w.HBox([self.apply_button, self.status]),
            ]
        )

    @staticmethod
    def _hint(name: str) -> str:
        if os.environ.get(name) or os.environ.get(f"{name}_FILE"):
            return "set from the environment"
        return "not set"

    def apply(self) -> list[str]:
        applied = []
        for k, widget in self.plain.items():
            if widget.value.strip():
                os.environ[k] = widget.value.strip()
                applied.append(k)
        for k, widget in self.secret.items():
            if widget.value:
                os.environ[k] = widget.value
                widget.value = ""
                widget.placeholder = "set (hidden)"
                applied.append(k)
        self.status.value = "applied: " + (", ".join(applied) if applied else "nothing")
        return applied
