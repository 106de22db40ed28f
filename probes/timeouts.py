"""Per-step deadlines and the overall budget.

Every network step takes its limit from :class:`Timeouts` (one field per phase). A :class:`Budget` bounds
the whole evidence gathering: a step gets the smaller of its own limit and what is left of the budget
(``budget.limit(timeouts.handshake)``), and once the budget is spent :class:`BudgetExhausted` says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from probes.errors import BudgetExhausted

__all__ = ["DEFAULT_TIMEOUTS", "Timeouts", "Budget"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for each network step.

    Attributes:
        connect: TCP connect (to a local forwarder or a server).
        forward_open: opening a port-forward stream through the API server, up to the first port frames.
        handshake: a TLS handshake, from ClientHello to Finished.
        read: waiting for the first bytes after a handshake or a plaintext request.
        rpc: one gRPC call (deadline passed to grpcio).
        api: one Kubernetes API request.
    """

    connect: float = 5.0
    forward_open: float = 5.0
    handshake: float = 5.0
    read: float = 2.0
    rpc: float = 5.0
    api: float = 10.0

    @classmethod
    def uniform(cls, seconds: float) -> "Timeouts":
        """Every step gets the same limit (what ``--direktiv-timeout`` sets)."""
        if seconds <= 0:
            raise ValueError(f"a timeout must be positive, given: {seconds}")
        return cls(seconds, seconds, seconds, seconds, seconds, seconds)

    def scaled(self, **changes: float) -> "Timeouts":
        return replace(self, **changes)


DEFAULT_TIMEOUTS = Timeouts()


class Budget:
    """A monotonic deadline for a whole phase of work; ``None`` seconds means unbounded."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        return None if self._end is None else self._end - time.monotonic()

    @property
    def exhausted(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def limit(self, step_seconds: float) -> float:
        """The time a step may take: its own limit, or less when the budget is nearly spent."""
        left = self.remaining()
        if left is None:
            return step_seconds
        if left <= 0:
            raise BudgetExhausted(self.seconds or 0.0)
        return min(step_seconds, left)
