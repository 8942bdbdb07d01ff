"""The stage notebooks, shipped in the wheel as ``oktalab.notebooks`` (see setup.py)."""
