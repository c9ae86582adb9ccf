"""The repository stands alone: nothing in it reads from outside its tree.

The static scan (``tree_guard.scan_tree``) must find nothing in the
project's own sources, and is itself shown to catch each way of climbing
out (the ``parents[3] / "shared"`` lookup the conformance tests once used,
``.parent`` chains, ``dirname`` nesting, ``..`` in a path, a ``shared/``
string) while letting ordinary code through. The runtime watch that
``tests/conftest.py`` installs is shown to be active and to judge paths
the way the collection and test phases rely on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tree_guard

ROOT = tree_guard.ROOT


def test_the_sources_stay_inside_the_tree() -> None:
    found = [str(finding) for finding in tree_guard.scan_tree()]
    assert found == [], "\n".join(found)


def test_the_scan_reads_every_kind_of_file() -> None:
    scanned = {path.relative_to(ROOT).as_posix() for path in tree_guard.scanned_files()}
    assert {
        "noxfile.py",
        "tests/test_sse_conformance.py",
        "tests/client/test_client_vectors.py",
        "expys_stream/__init__.py",
    } <= scanned
    assert any(name.startswith("benchmarks/") for name in scanned)
    assert (ROOT / ".ci" / "run").is_file()


ESCAPES = [
    # The lookup tests/client/test_client_vectors.py used to make.
    ("tests/client/x.py", 'P = Path(__file__).resolve().parents[3] / "shared" / "conformance"', 2),
    ("tests/x.py", "P = Path(__file__).resolve().parents[2]", 1),
    ("tests/x.py", "P = Path(__file__).resolve().parents[-1]", 1),
    ("noxfile.py", "P = Path(__file__).parents[1]", 1),
    ("tests/x.py", "P = Path(__file__).parent.parent.parent", 1),
    ("tests/x.py", "P = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))", 1),
    ("tests/x.py", 'P = open("../data.json")', 1),
    ("tests/x.py", 'P = ROOT / ".." / "data.json"', 1),
    ("tests/x.py", 'P = Path("..")', 1),
    ("tests/x.py", 'P = os.environ["HOME"] + "/shared/conformance"', 1),
    ("expys_stream/x.py", 'P = "/work/shared/PROTOCOL.md"', 1),
]


@pytest.mark.parametrize(("relative", "source", "count"), ESCAPES)
def test_the_scan_catches_a_climb_out(relative: str, source: str, count: int) -> None:
    found = tree_guard.scan_python(source, relative)
    assert len(found) == count, found
    assert all(finding.path == relative and finding.line == 1 for finding in found)


FINE = [
    ("tests/x.py", "P = Path(__file__).resolve().parents[1]"),
    ("tests/client/x.py", 'P = Path(__file__).resolve().parents[1] / "conformance"'),
    ("tests/x.py", "P = Path(__file__).resolve().parent.parent"),
    ("tests/x.py", "P = os.path.dirname(os.path.dirname(__file__))"),
    ("tests/x.py", 'client.get("../admin")  # a conversation id, not a path'),
    ("tests/x.py", 'P = quote("..", safe="")'),
    ("tests/x.py", '"""Once read ../shared/conformance; now tests/conformance."""'),
    ("tests/x.py", 'P = "data shared by the tests"'),
    ("tests/x.py", "P = self._shared_extensions"),
]


@pytest.mark.parametrize(("relative", "source"), FINE)
def test_the_scan_lets_ordinary_code_through(relative: str, source: str) -> None:
    assert tree_guard.scan_python(source, relative) == []


def test_the_shell_scan() -> None:
    script = "\n".join(
        [
            "#!/usr/bin/env bash",
            'cd "$(dirname "$0")/.."',
            "# a comment may say ../shared",
            "python3 -m nox -s tests",
            "cp -r ../shared/conformance tests/",
            "ls ..",
        ]
    )
    found = tree_guard.scan_shell(script, ".ci/run")
    assert [(finding.line, finding.reason) for finding in found] == [
        (5, "names a shared/ folder"),
        (5, "'..' leaves the repository"),
        (6, "'..' leaves the repository"),
    ]


def test_the_watch_is_installed_and_records_opens() -> None:
    watch = tree_guard.ACTIVE
    assert watch is not None
    before = len(watch.opened)
    readme = ROOT / "tests" / "conformance" / "README.md"
    with open(readme, encoding="utf-8") as file:
        assert file.read(1)
    os.close(os.open(ROOT / "pyproject.toml", os.O_RDONLY))
    recorded = watch.opened[before:]
    assert str(readme) in recorded
    assert str(ROOT / "pyproject.toml") in recorded


def test_the_watch_judges_paths(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    beside = tmp_path / "shared"
    for folder in (repo / "tests", beside / "conformance"):
        folder.mkdir(parents=True)
    watch = tree_guard.OpenWatch(root=repo)
    later = tmp_path / "created-later"  # like a new temporary file beside /tmp/repo
    later.write_text("x")
    inside = repo / "tests" / "data.json"
    outside = beside / "conformance" / "wpt-vectors.json"
    for path in (inside, outside):
        path.write_text("[]")
    climbing = str(repo / "tests" / ".." / ".." / "shared" / "conformance" / "wpt-vectors.json")
    opened: list[object] = [
        inside,
        outside,
        later,
        climbing,
        beside / "missing.json",
        "/nonexistent/x",
    ]
    for name in opened:
        watch.hook("open", (name, "r", 0))
    watch.hook("open", (3, "r", 0))  # a descriptor: no path to judge
    watch.hook("os.listdir", (str(beside),))  # not an open
    assert watch.take() == sorted({str(outside), climbing, str(beside / "missing.json")})
    assert watch.take() == []  # each open is reported once
    assert watch.inside(str(inside))
    assert watch.inside(os.__file__)  # the standard library
    assert watch.inside(str(later))
    assert watch.inside("/dev/null")
    assert not watch.inside(str(outside))
