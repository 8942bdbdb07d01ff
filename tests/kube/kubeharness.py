"""Helpers shared by the kube tests: a handle on the running server and a test CRD.

Debugging knobs: ``KUBE_TEST_TIMING=1`` prints each kubectl call's duration (with ``-s``),
``KUBE_TEST_LOG=info`` turns on uvicorn's request log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from oktalab.sandbox.kube.api import KubeAPI
from oktalab.sandbox.kube.store import ObjectStore

TOKEN = "test-token-" + uuid.uuid4().hex
KUBECTL = shutil.which("kubectl")


@dataclass
class KubeServer:
    url: str
    token: str
    ca_file: Path
    kubeconfig: Path
    home: Path
    store: ObjectStore
    loop: asyncio.AbstractEventLoop
    api: KubeAPI

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            HOME=str(self.home),
            KUBECACHEDIR=str(self.home / "cache"),
        )
        return env

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if KUBECTL is None:
            pytest.skip("kubectl not installed")
        started = time.monotonic()
        proc = subprocess.run(
            [KUBECTL, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=60,
        )
        if os.environ.get("KUBE_TEST_TIMING"):
            print(f"{time.monotonic() - started:.2f}s kubectl {' '.join(args)[:80]}")
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    def http(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"} if token != "" else {}
        return httpx.Client(
            base_url=self.url,
            headers=headers,
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
        )

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (as the Gloo controllers would) and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def api_client(self) -> Any:
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.api_key = {"authorization": self.token}
        config.api_key_prefix = {"authorization": "Bearer"}
        config.ssl_ca_cert = str(self.ca_file)
        return client.ApiClient(config)


requires_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}, scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.replicas}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: State, type: string, jsonPath: .status.state}
    schema:
      openAPIV3Schema:
        type: object
        description: A widget for tests.
        properties:
          spec:
            type: object
            description: What the widget should be.
            required: [size]
            properties:
              size: {type: integer, minimum: 1, description: How big.}
              color: {type: string, enum: [red, blue], default: red}
              tags: {type: array, items: {type: string}}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              state: {type: string}
              common:
                type: object
                properties:
                  State:
                    type: object
                    properties:
                      approval: {type: string}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
"""
