"""The ``expys-stream`` command: tail, send, serve, demo.

Exit codes: 0 success, 1 any other failure (network, server, gave up),
2 a usage error (a bad or missing argument, token or conversation), 3 an
authentication or permission failure, 130 interrupted.

Modules: ``_args`` (the parser), ``_commands`` (tail, send, serve),
``_status`` (connection state lines and the rule for giving up),
``_logs`` (the library's log on stderr), ``_output`` (messages on stdout),
``_main`` (running it all and turning errors into exit codes). The library
never imports this package; ``expys_stream._demo`` uses its output helpers.
"""

from __future__ import annotations

from ._main import EXIT_AUTH, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, main, run

__all__ = ["EXIT_AUTH", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_USAGE", "main", "run"]
