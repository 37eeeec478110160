"""A worker process must not outlive the process that started it.

Two mechanisms: on Linux the kernel kills the worker when its parent dies
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``); everywhere, a watchdog thread notices that the parent
changed (``os.getppid()``) and exits. The second also covers a parent that died before the
first was in place.

PR_SET_PDEATHSIG fires when the *thread* that started the worker ends, not only the process:
the pool therefore starts every worker from its own long-lived dispatcher thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
# Exit status of a worker that found itself orphaned.
ORPHANED_EXIT = 75


def bind_to_parent(parent_pid: int, check_every_s: float = 0.5) -> None:
    if sys.platform.startswith("linux"):
        _set_pdeathsig()
    if os.getppid() != parent_pid:
        os._exit(ORPHANED_EXIT)  # the parent died before the signal was armed
    watchdog = threading.Thread(
        target=_watch, args=(parent_pid, check_every_s), name="parent-watchdog", daemon=True
    )
    watchdog.start()


def _set_pdeathsig() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError):
        log.warning("prctl unavailable; relying on the watchdog thread", exc_info=True)


def _watch(parent_pid: int, check_every_s: float) -> None:
    while True:
        time.sleep(check_every_s)
        if os.getppid() != parent_pid:
            # os._exit: no cleanup that could block on a half-finished job.
            os._exit(ORPHANED_EXIT)
