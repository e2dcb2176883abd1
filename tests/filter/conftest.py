"""How many cases the filter properties generate: under CI=true, ≥ 100 000 per run (see the test file)."""

from __future__ import annotations

import os

#: CI=true (or HYPOTHESIS_PROFILE=ci) asks for the full counts; a local run uses a tenth of them.
FULL_RUN = os.environ.get("CI") == "true" or os.environ.get("HYPOTHESIS_PROFILE") == "ci"
