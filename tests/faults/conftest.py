"""The stub-server fixtures of tests/faults (defined in stubs.py)."""
from .stubs import couch, fast_backoff, stub, stub_server  # noqa: F401
