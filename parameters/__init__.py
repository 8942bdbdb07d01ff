"""The example parameter sets, shipped in the wheel as ``oktalab.parameters`` (see setup.py)."""
