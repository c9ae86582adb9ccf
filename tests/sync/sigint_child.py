"""Run by test_sync_sigint.py: block in the sync client until SIGINT arrives.

``python sigint_child.py MODE`` starts a concierge in a thread, then blocks
in the main thread (MODE ``stream``: waiting for a message; ``backoff``:
waiting for a message while the reader sleeps before a reconnect; ``list``:
in ``list_messages`` while it waits to retry). A watcher thread prints
``READY`` once the main thread is parked in the library's wait. After the
KeyboardInterrupt, it prints one JSON line: what it saw and what was left.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_support import CONVERSATION, Baseline, portal_threads

from expys_stream.sync import Client, open_message_stream
from expys_stream.testing import ConciergeThread

# Where the main thread blocks: a request waits in _portal.wait, an
# iteration in the stream's _fetch.
WAITS = {("wait", "_portal.py"), ("_fetch", "_sync_streams.py")}


def main_is_waiting() -> bool:
    """The main thread's stack is inside one of the library's waits."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        code = frame.f_code
        if (code.co_name, Path(code.co_filename).name) in WAITS:
            return True
        frame = frame.f_back
    return False


def watch(server: ConciergeThread, mode: str) -> None:
    if mode in ("list", "backoff"):  # the 503 was answered: the wait to retry began
        deadline = time.monotonic() + 20
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.005)
    else:
        server.wait_for_streams(1, timeout=20)
    deadline = time.monotonic() + 20
    while not main_is_waiting():
        if time.monotonic() > deadline:
            print("the main thread never waited in the library", flush=True)
            return
        time.sleep(0.005)
    print("READY", flush=True)


def run(server: ConciergeThread, token: str, mode: str) -> str:
    options = {"base_url": server.base_url, "backoff_base": 0.01, "backoff_cap": 0.05}
    try:
        if mode == "list":
            with Client(token=token, **options) as client:
                client.list_messages(CONVERSATION)
        else:
            with open_message_stream(CONVERSATION, token=token, **options) as stream:
                for _message in stream:
                    return "a message arrived"
    except KeyboardInterrupt:
        return "KeyboardInterrupt"
    return "no interrupt"


def main() -> None:
    mode = sys.argv[1]
    with ConciergeThread(retry_ms=1) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")
        if mode == "backoff":
            server.faults.fail_next(1, 503, retry_after=3600)
        elif mode == "list":
            server.faults.fail_next(1, 503, retry_after=3600, endpoint="list")
        baseline = Baseline(server.port)
        watcher = threading.Thread(target=watch, args=(server, mode))
        watcher.start()
        outcome = run(server, token, mode)
        watcher.join()
        left = {
            "portal_threads": len(portal_threads()),
            "extra_threads": len(set(threading.enumerate()) - baseline.threads),
        }
        try:
            baseline.check()
            left["check"] = "clean"
        except AssertionError as exc:
            left["check"] = f"not clean: {exc!r}"
        print(json.dumps({"outcome": outcome, **left}), flush=True)


if __name__ == "__main__":
    main()
