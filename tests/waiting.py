"""Waiting in tests for something another process (a worker, a server, a cluster) does."""

import time


def wait_for(pred, timeout: float = 90, what: str = "the condition", poll: float = 0.05):
    """``pred()``'s first truthy value, polled every ``poll`` s; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
