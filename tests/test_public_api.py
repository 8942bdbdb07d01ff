import oktalab


def test_public_names_are_pinned() -> None:
    assert sorted(oktalab.__all__) == sorted(
        [
            "APIError",
            "ConfigurationError",
            "Environment",
            "KubeAPIError",
            "NotAcceptedError",
            "OktaAPIError",
            "OktalabError",
            "ParameterError",
            "ParameterSet",
            "RateLimited",
            "Row",
            "SandboxError",
            "Secret",
            "StageFailed",
            "StageResult",
            "Timeout",
            "VerificationError",
            "__version__",
            "load_parameters",
            "run_stage",
            "style",
            "to_frame",
        ]
    )
    for name in oktalab.__all__:
        assert hasattr(oktalab, name), name


def test_errors_share_one_base() -> None:
    for name in (
        "ParameterError",
        "OktaAPIError",
        "KubeAPIError",
        "NotAcceptedError",
        "StageFailed",
        "SandboxError",
        "Timeout",
    ):
        assert issubclass(getattr(oktalab, name), oktalab.OktalabError)


def test_client_room_never_imports_the_sandbox() -> None:
    root = __import__("pathlib").Path(oktalab.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("sandbox/") or rel in ("cli.py", "__main__.py"):
            continue
        text = path.read_text()
        if "oktalab.sandbox" in text or "from .sandbox" in text or "from ..sandbox" in text:
            offenders.append(rel)
    assert offenders == []
