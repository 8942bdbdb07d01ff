"""Tests of the sandbox Kubernetes API server (a package, so its conftest is not a top-level ``conftest``)."""
