"""Settings for the HTTP benchmark only: the app's settings plus the bench URLs."""

from gdsi.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
