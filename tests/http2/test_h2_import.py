"""h2 is optional: only the HTTP/2 modules import it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# As if h2 were not installed: an import of it raises ImportError.
WITHOUT_H2 = "import sys; sys.modules['h2'] = None"


def _run(statement: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def _modules_after(statement: str) -> set[str]:
    result = _run(statement)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_importing_the_package_does_not_load_h2() -> None:
    # (Only the import itself: the first use of Client loads httpcore, and
    # httpcore loads h2 whenever it is installed.)
    loaded = _modules_after("import expys_stream")
    assert "h2" not in loaded
    assert not any(name.startswith("expys_stream._http._h2") for name in loaded)


def test_the_http_edge_works_without_h2() -> None:
    # (httpcore itself imports h2 when it is installed, so the check is
    # that nothing of ours needs it: with h2 missing, all of this imports.)
    loaded = _modules_after(
        f"{WITHOUT_H2}; import expys_stream._http, expys_stream._http._h2stream"
    )
    assert "expys_stream._http._h2stream" in loaded
    assert "expys_stream._http._h2conn" not in loaded


def test_the_connection_module_needs_h2() -> None:
    result = _run(f"{WITHOUT_H2}; import expys_stream._http._h2conn")
    assert result.returncode != 0
    assert "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr
    assert {"h2", "expys_stream._http._tls"} <= _modules_after("import expys_stream._http._h2dial")
