"""zkclear: a zero-knowledge private clearing layer for institutional derivatives."""

__version__ = "0.1.0"
