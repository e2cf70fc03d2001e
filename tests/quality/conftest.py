"""Fixtures for quality tests: the core dictionary, two sites, users by role."""

from cases.conftest import core_version, make_user, site_a, site_b  # noqa: F401
