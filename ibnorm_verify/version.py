"""The version of the ``ibnorm-verify`` distribution: its single source (``pyproject.toml`` reads it, and the
run record writes it). The bottom floor of the suite: it imports nothing."""

__version__ = "0.3.0"
