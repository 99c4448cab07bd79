"""Hypothesis profiles for the property-based tests of the sans-I/O core.

`HYPOTHESIS_PROFILE` picks one: "default" (a small budget, part of `make test`) or "fuzz"
(100,000 examples per property: `make fuzz`, well over an hour on one core;
`LOCTOCAT_FUZZ_EXAMPLES=20000` sets a smaller budget). Neither keeps an example database,
so runs leave no files behind.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps caches (Unicode tables, constants) in .hypothesis/: not in the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "loctocat-hypothesis"))

settings.register_profile(
    "default",
    max_examples=200,
    deadline=None,
    derandomize=False,
    database=None,
    print_blob=True,
    # Generating examples is timed on the wall clock: on a machine busy with the rest of the
    # suite it can look slow without anything being wrong, as under the long run below.
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("LOCTOCAT_FUZZ_EXAMPLES", "100000")),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)


def pytest_configure(config: pytest.Config) -> None:
    if PROFILE == "fuzz":
        # As if --hypothesis-show-statistics had been given: examples run per property.
        config.option.hypothesis_show_statistics = True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if PROFILE == "fuzz":
        # A property may run for many minutes: lift the 120 s pytest-timeout of the suite.
        here = os.path.dirname(__file__)
        for item in items:
            if str(item.path).startswith(here):
                item.add_marker(pytest.mark.timeout(0))
