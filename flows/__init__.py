"""Prefect flows over the library, and the ``dissent`` command line."""

import os

# Prefect's local API would try to send usage telemetry; this machine (and many) cannot.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
