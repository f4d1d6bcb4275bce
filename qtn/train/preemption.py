"""Preemption: SIGTERM / SIGINT during training stop the run *between* optimizer steps.

Clusters (Slurm, Kubernetes, spot VMs) send SIGTERM some time before they kill a job. Inside
:class:`PreemptionGuard` the first SIGTERM or SIGINT only records the request: the current
step finishes, the training loop writes a checkpoint and raises :class:`Preempted`; ``qtn
train`` then exits with :data:`PREEMPTED_EXIT_CODE` (75, ``EX_TEMPFAIL``: "try again") and
prints the command that resumes the run. A second SIGINT interrupts at once
(``KeyboardInterrupt``), as Ctrl-C twice does elsewhere.

Handlers are installed only in the main thread and restored on exit; nothing is global.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

PREEMPTED_EXIT_CODE = 75
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
    """Training stopped on a signal after writing ``checkpoint`` at optimizer step ``step``."""

    def __init__(self, signame: str, step: int, checkpoint: Any):
        self.signame, self.step, self.checkpoint = signame, step, checkpoint
        where = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint (none configured)"
        super().__init__(f"{signame} received: stopped after step {step}; {where}")


class PreemptionGuard:
    """Context manager: ``with PreemptionGuard() as guard: ... if guard.requested: ...``.

    ``requested`` is the name of the first signal received (None before)."""

    def __init__(self, signals: tuple[signal.Signals, ...] = SIGNALS):
        self.signals = signals
        self.requested: str | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = self.requested or name

    def __enter__(self) -> PreemptionGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
