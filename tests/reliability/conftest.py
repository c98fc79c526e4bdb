"""The reliability suite (issue 10): schemathesis, load with a worker killed, audit outages.

Its tests start servers through ``tests/service/servers.py`` (put on the import path here)
and probe them with :mod:`probes`, which ``benchmarks/reliability.py`` runs at a larger size.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from servers import serve  # noqa: E402, F401  (the fixture, for every test of this folder)
