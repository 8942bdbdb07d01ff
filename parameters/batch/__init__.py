"""The batch example (template, table, batch file), shipped as ``oktalab.parameters.batch``."""
