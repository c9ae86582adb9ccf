"""Run by test_sync_fork.py: the sync client across os.fork().

The parent holds a used Client (so the event-loop thread runs) and forks;
the child uses that client (a RuntimeError), then a new one (it works, on a
new thread), and reports in its exit status; the parent then checks its own
client still works and prints ``OK``.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings

from expys_stream.sync import Client
from expys_stream.testing import ConciergeThread

warnings.simplefilter("ignore", DeprecationWarning)  # (3.12+: fork with threads)


def child(server: ConciergeThread, token: str, old: Client) -> int:
    try:
        old.list_messages("cnv_fork")
    except RuntimeError as exc:
        if "os.fork()" not in str(exc):
            return 3
    else:
        return 2
    with Client(token=token, base_url=server.base_url) as fresh:
        sent = fresh.send_message("cnv_fork", "from the child")
        if fresh.list_messages("cnv_fork").messages[-1] != sent:
            return 4
    return 0


def main() -> None:
    signal.alarm(50)  # a watchdog: neither process outlives a hang (the alarm is inherited)
    with ConciergeThread() as server:
        server.add_conversation("cnv_fork")
        token = server.add_member("cnv_fork", "usr_alice")
        with Client(token=token, base_url=server.base_url) as client:
            client.send_message("cnv_fork", "before the fork")
            pid = os.fork()
            if pid == 0:
                signal.alarm(30)
                code = 1
                try:
                    code = child(server, token, client)
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                print(f"child failed: {status}")
                sys.exit(1)
            assert client.list_messages("cnv_fork").messages[-1].body == "from the child"
    print("OK")


if __name__ == "__main__":
    main()
