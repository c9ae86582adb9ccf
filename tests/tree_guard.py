"""Keeps the project inside its own tree: a static scan and a runtime watch.

The repository must run from a fresh clone or an unpacked sdist with nothing
beside it, so no code or test may read a file from outside it (for example
a ``shared/`` folder next to the checkout). Two checks enforce that:

* :func:`scan_python` and :func:`scan_shell` read source text and report
  path literals that climb out of the repository: ``parents[N]``,
  ``.parent`` chains or nested ``os.path.dirname`` calls that go above the
  root for the file's depth, a ``".."`` handed to a path operation, and any
  string naming a ``shared`` folder.
* :class:`OpenWatch` sees every file the test process opens (a
  ``sys.addaudithook`` hook on the ``open`` event, which ``open()``,
  ``io.open_code`` and ``os.open`` all raise) and classifies each path:
  inside the repository, in Python's own installation, in a temporary or
  system folder, or not existing at all is fine; anything else, and in
  particular anything in a folder that sat beside the repository when the
  session began (existing or not), is a violation. ``tests/conftest.py``
  installs it and fails the collector or test phase during which such a
  file was opened.
"""

from __future__ import annotations

import ast
import getpass
import os
import re
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What the static scan reads (folders are searched for ``*.py``).
SCANNED_FOLDERS = ("expys_stream", "tests", "benchmarks")
SCANNED_FILES = ("noxfile.py",)
SCANNED_SHELL = (".ci/run",)
#: The scan's own tests hold escapes as sample text; the runtime watch
#: still covers what they do.
NOT_SCANNED = ("tests/test_self_contained.py",)

# Callables whose arguments are paths: a ".." given to one climbs a folder.
_PATH_CALLS = {
    "Path",
    "PurePath",
    "PosixPath",
    "open",
    "join",
    "joinpath",
    "chdir",
    "abspath",
    "realpath",
    "normpath",
    "listdir",
    "scandir",
}
_SHARED = re.compile(r"(?:^|[/\\])shared(?:[/\\]|$)")
_DOTDOT = re.compile(r"^\.\.(?:[/\\]|$)")


@dataclass(frozen=True)
class Finding:
    """One place where source text reaches outside the repository."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def scanned_files(root: Path = ROOT) -> Iterator[Path]:
    """The Python files of the scan, in a stable order."""
    for folder in SCANNED_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            if path.relative_to(root).as_posix() not in NOT_SCANNED:
                yield path
    for name in SCANNED_FILES:
        if (root / name).is_file():
            yield root / name


def _docstrings(tree: ast.AST) -> set[int]:
    # Prose may talk about folders; only code is held to the rule.
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            ids.add(id(node.value))
    return ids


def _climb(node: ast.expr) -> tuple[int, str, list[ast.expr]] | None:
    """How far above the file a ``.parent`` or ``dirname`` chain reaches.

    ``Path(__file__).parent`` and ``os.path.dirname(__file__)`` are the
    file's own folder (0 levels up); each further link is one more. Returns
    the levels, a description and the chain's nodes.
    """
    links: list[ast.expr] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute) and current.attr == "parent":
        links.append(current)
        current = current.value
    if links:
        return len(links) - 1, f"{len(links)} x .parent", links
    while isinstance(current, ast.Call) and _call_name(current.func) == "dirname" and current.args:
        links.append(current)
        current = current.args[0]
    if links:
        return len(links) - 1, f"{len(links)} nested dirname calls", links
    return None


def scan_python(source: str, relative: str) -> list[Finding]:
    """Findings in one Python file, given its path relative to the root."""
    depth = len(Path(relative).parts) - 1  # parents[depth] is the root
    tree = ast.parse(source, filename=relative)
    prose = _docstrings(tree)
    found: list[Finding] = []

    def add(node: ast.AST, reason: str) -> None:
        found.append(Finding(relative, getattr(node, "lineno", 0), reason))

    judged: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parents"
            and _constant_index(node.slice) is not None
        ):
            index = _constant_index(node.slice)
            assert index is not None
            if index < 0 or index > depth:
                add(node, f"parents[{index}] climbs above the repository (at most {depth} here)")
        elif isinstance(node, ast.Attribute | ast.Call) and id(node) not in judged:
            # ast.walk meets a chain's outermost link first: judge it whole.
            climb = _climb(node)
            if climb is not None:
                levels, what, links = climb
                judged.update(id(link) for link in links)
                if levels > depth:
                    add(node, f"{what} climbs above the repository (at most {depth + 1} here)")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in prose and _SHARED.search(node.value):
                add(node, f"string {node.value!r} names a shared/ folder")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if _is_dotdot(side):
                    add(node, "'..' joined to a path")
        elif (
            isinstance(node, ast.Call)
            and _call_name(node.func) in _PATH_CALLS
            and any(_is_dotdot(arg) for arg in node.args)
        ):
            add(node, f"'..' passed to {_call_name(node.func)}()")
    return sorted(set(found), key=lambda f: (f.line, f.reason))


def _constant_index(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant_index(node.operand)
        return None if inner is None else -inner
    return None


def _is_dotdot(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(_DOTDOT.match(node.value))
    )


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def scan_shell(source: str, relative: str) -> list[Finding]:
    """Findings in a shell script that starts with ``cd "$(dirname "$0")/.."``.

    After that line the working folder is the root, so any ``..`` leaves it
    (the one climb allowed is from the script's own folder to the root).
    """
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#!") else ""
        code = code.replace('"$(dirname "$0")/.."', "")
        if re.search(r"(?:^|[\s/\"'=])shared(?:/|\b)", code):
            found.append(Finding(relative, number, "names a shared/ folder"))
        if re.search(r"(?:^|[\s/\"'=])\.\.(?:/|\b|$)", code):
            found.append(Finding(relative, number, "'..' leaves the repository"))
    return found


def scan_tree(root: Path = ROOT) -> list[Finding]:
    """Every finding of the static scan over the repository."""
    found: list[Finding] = []
    for path in scanned_files(root):
        relative = path.relative_to(root).as_posix()
        found.extend(scan_python(path.read_text(encoding="utf-8"), relative))
    for name in SCANNED_SHELL:
        path = root / name
        if path.is_file():
            found.extend(scan_shell(path.read_text(encoding="utf-8"), name))
    return found


# --- The runtime watch --------------------------------------------------------


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _python_folders() -> set[str]:
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    folders.update(sysconfig.get_paths().values())
    return {os.path.realpath(folder) for folder in folders if folder}


_SYSTEM = ("/dev", "/proc", "/sys", "/etc", "/usr", "/lib", "/lib64", "/run")


class OpenWatch:
    """Records every file opened in this process and judges each path.

    The hook only appends the path (made absolute) and the current phase to
    a list; judging happens in :meth:`take`, with the results cached.
    """

    def __init__(self, root: Path = ROOT, temp_roots: Iterable[str] = ()) -> None:
        """Watch for ``root``; files under ``temp_roots`` are allowed too."""
        self.root = os.path.realpath(root)
        parent = os.path.dirname(self.root)
        # What sat beside the repository when the session began (a shared/
        # folder, a sibling checkout); a temporary folder as the parent
        # still lets new temporary files in.
        try:
            beside = set(os.listdir(parent)) - {os.path.basename(self.root)}
        except OSError:
            beside = set()
        self.beside = [os.path.join(parent, name) for name in sorted(beside)]
        temp = os.path.realpath(tempfile.gettempdir())
        self.allowed = [self.root, *_python_folders()]
        self.allowed += [os.path.realpath(t) for t in temp_roots]
        self.loose = [temp, *_SYSTEM]
        self.opened: list[str] = []
        self._verdicts: dict[str, bool] = {}
        self._seen = 0

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        """The audit hook: must stay cheap and must not open anything."""
        if event != "open" or not args:
            return
        path = args[0]
        if isinstance(path, int) or path is None:
            return
        try:
            text = os.fsdecode(os.fspath(path))  # type: ignore[call-overload]
        except TypeError:
            return
        if not os.path.isabs(text):
            text = os.path.join(os.getcwd(), text)
        self.opened.append(text)

    def install(self) -> None:
        """Add the hook to this process (for good: audit hooks stay)."""
        sys.addaudithook(self.hook)

    def inside(self, path: str) -> bool:
        """Whether opening ``path`` keeps the project inside its tree."""
        verdict = self._verdicts.get(path)
        if verdict is None:
            real = os.path.realpath(path)
            if any(_under(real, folder) for folder in self.allowed):
                verdict = True
            elif any(_under(real, folder) for folder in self.beside):
                verdict = False
            else:
                # A path that does not exist gave the test nothing (a test
                # may provoke an OSError on purpose); one that does must be
                # in a temporary or system folder.
                verdict = not os.path.lexists(real) or any(
                    _under(real, folder) for folder in self.loose
                )
            self._verdicts[path] = verdict
        return verdict

    def take(self) -> list[str]:
        """The paths outside the tree opened since the last call."""
        end = len(self.opened)
        new = self.opened[self._seen : end]
        self._seen = end
        return sorted({path for path in new if not self.inside(path)})


#: The watch ``tests/conftest.py`` installed in this process, if any.
ACTIVE: OpenWatch | None = None


def pytest_temp_roots(basetemp: object) -> list[str]:
    """Where pytest puts ``tmp_path`` folders: ``--basetemp`` or its default."""
    if basetemp:
        return [str(basetemp)]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return [os.path.join(tempfile.gettempdir(), f"pytest-of-{user}")]
