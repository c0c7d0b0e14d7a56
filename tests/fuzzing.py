"""How the property-based tests draw their examples.

The same examples every run, so CI judges the change and not the luck of the draw;
``FUZZ_EXPLORE=1`` (with ``FUZZ_EXAMPLES=200``, say) explores new inputs on demand.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

EXPLORE = os.environ.get("FUZZ_EXPLORE") == "1"


def fuzz_settings(examples: int) -> hypothesis_settings:
    """``examples`` per test unless ``FUZZ_EXAMPLES`` says otherwise; no deadline (a shared
    2-core machine is not a timer) and no saved examples (a failure prints what to replay)."""
    return hypothesis_settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", examples)),
        deadline=None,
        derandomize=not EXPLORE,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
