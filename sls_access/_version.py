"""The version of sls-access, in one place."""

__version__ = "0.2.0"
