"""The keys under which the plugin keeps its state in ``config.stash`` and ``item.stash``.

Their own module, so that the plugin (which writes them) and the report writer (which reads them) need not import
each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from probes.plugin import ConformanceState

__all__ = ["STATE_KEY", "VERDICT_KEY", "SANDBOX_KEY"]

# The run's state: its options, profile and evidence (config.stash); present only in conformance runs.
STATE_KEY = pytest.StashKey["ConformanceState"]()
# The verdict a test judged (item.stash): the report writer reads it at session end.
VERDICT_KEY = pytest.StashKey[Any]()
# The sandbox this run started with --direktiv-sandbox (config.stash), stopped at unconfigure.
SANDBOX_KEY = pytest.StashKey[Any]()
