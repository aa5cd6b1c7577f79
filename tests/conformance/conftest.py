"""Fixtures for this suite come from tests/support/fixtures.py, shared by both suites:
`broker`, `broker_factory`, the `limits` and `moat_only` marks, and the hooks that apply them.
pytest finds fixtures and hooks by name in this module, hence the star import."""

from support.fixtures import *  # noqa: F401,F403
