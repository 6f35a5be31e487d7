"""The package version: one definition, read by the facade, the report and pyproject.toml."""

__version__ = "0.1.0"
