"""The ``zkclear`` command line."""
