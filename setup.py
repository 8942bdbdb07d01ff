"""Only the package layout lives here; everything else is in pyproject.toml.

``notebooks/`` and ``parameters/`` stay at the repository's top level (one copy) and are
mapped into the package as ``oktalab.notebooks`` and ``oktalab.parameters``, so wheels,
sdists and editable installs all carry them (read with ``importlib.resources``).
pyproject.toml cannot combine package discovery with such a mapping, hence this file.
"""

from setuptools import find_namespace_packages, setup

DATA_PACKAGES = {
    "oktalab.notebooks": "notebooks",
    "oktalab.parameters": "parameters",
    "oktalab.parameters.batch": "parameters/batch",
}

setup(
    packages=[
        *find_namespace_packages(include=["oktalab", "oktalab.*"], exclude=["*.__pycache__"]),
        *DATA_PACKAGES,
    ],
    package_dir=DATA_PACKAGES,
)
