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
    """Only the CLI may reach into oktalab.sandbox; everything else talks HTTP to it."""
    import ast
    from pathlib import Path

    root = Path(oktalab.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("sandbox/") or rel in ("cli.py", "__main__.py"):
            continue
        package = ["oktalab", *rel.removesuffix(".py").split("/")[:-1]]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, node.module or ""]).strip(".")]
            offenders += [f"{rel}: {n}" for n in names if n.startswith("oktalab.sandbox")]
    assert offenders == []
