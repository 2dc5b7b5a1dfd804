import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# tests/ mirrors the package in folders; their shared helpers are imported as `from _helpers import ...`.
# With --import-mode=importlib a test module is named after its path (tests.learner.dask.test_fit): the
# repository's root on the path lets dask's worker processes import the functions a test sends them.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parent.parent))

settings.register_profile(
    "ci", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
