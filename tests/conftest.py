import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# tests/ mirrors the package in folders; their shared helpers are imported as `from _helpers import ...`
sys.path.insert(0, str(Path(__file__).parent))

settings.register_profile(
    "ci", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
