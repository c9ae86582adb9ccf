"""Every public name has a docstring, and the API reference documents it.

The public API is ``__all__`` of ``expys_stream``, ``expys_stream.sse``,
``expys_stream.sync`` and ``expys_stream.testing``, plus the public methods and properties of the
public classes (those defined in this package, inherited ones included).
Classes and functions must carry their own ``__doc__`` (not one inherited
from a base class). Constants and type aliases cannot hold a ``__doc__``;
for them the defining module must follow the assignment with a string
literal, the attribute docstring that the API reference (griffe) reads.

A second check keeps ``docs/api/`` complete: each public name appears there
as a mkdocstrings directive (``::: package.Name``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("expys_stream", "expys_stream.sse", "expys_stream.sync", "expys_stream.testing")


def _public_names() -> list[tuple[str, str]]:
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.extend((package, name) for name in module.__all__)
    return names


def _own_doc(obj: Any) -> str | None:
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
    else:
        doc = getattr(obj, "__doc__", None)
    if isinstance(doc, str) and doc.strip():
        return doc
    return None


def _is_ours(obj: Any) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("expys_stream")


def _package_modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    modules = [root]
    # (A plain module, such as expys_stream.sync, has no submodules.)
    for info in pkgutil.iter_modules(getattr(root, "__path__", []), prefix=f"{package}."):
        if info.name.endswith(".__main__"):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def _has_attribute_docstring(package: str, name: str) -> bool:
    """Whether some module of ``package`` assigns ``name`` and documents it."""
    for module in _package_modules(package):
        source = inspect.getsource(module)
        body = ast.parse(source).body
        for statement, following in itertools.pairwise(body):
            if isinstance(statement, ast.Assign):
                targets = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                targets = [statement.target.id]
            else:
                continue
            if (
                name in targets
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                and following.value.value.strip()
            ):
                return True
    return False


def _public_members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties of ``cls``, from the classes of ours in its MRO."""
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not _is_ours(klass):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(value, staticmethod | classmethod):
                members[name] = value.__func__
            elif isinstance(value, property) or inspect.isfunction(value):
                members[name] = value
            else:
                members.pop(name, None)
    return sorted(members.items())


def test_every_package_exports_something() -> None:
    counts = {package: len(importlib.import_module(package).__all__) for package in PACKAGES}
    assert all(counts.values()), counts


@pytest.mark.parametrize(("package", "name"), _public_names())
def test_public_name_has_a_docstring(package: str, name: str) -> None:
    obj = getattr(importlib.import_module(package), name)
    if inspect.isclass(obj) or inspect.isroutine(obj):
        assert _own_doc(obj), f"{package}.{name} has no docstring"
    else:
        assert _has_attribute_docstring(package, name), (
            f"{package}.{name} has no attribute docstring (a string literal after it)"
        )


def _public_classes() -> list[tuple[str, type]]:
    seen: dict[int, tuple[str, type]] = {}
    for package, name in _public_names():
        obj = getattr(importlib.import_module(package), name)
        if inspect.isclass(obj) and _is_ours(obj):
            seen.setdefault(id(obj), (f"{package}.{name}", obj))
    return sorted(seen.values(), key=lambda item: item[0])


@pytest.mark.parametrize(
    ("qualname", "cls"), _public_classes(), ids=[q for q, _ in _public_classes()]
)
def test_public_methods_and_properties_have_docstrings(qualname: str, cls: type) -> None:
    missing = [name for name, member in _public_members(cls) if not _own_doc(member)]
    assert not missing, f"{qualname}: no docstring on {', '.join(missing)}"


def _documented_paths() -> set[str]:
    text = "\n".join(path.read_text("utf-8") for path in (ROOT / "docs" / "api").glob("*.md"))
    return set(re.findall(r"^::: ([\w.]+)\s*$", text, flags=re.MULTILINE))


def test_the_api_reference_documents_every_public_name() -> None:
    documented = _documented_paths()
    missing = [f"{package}.{name}" for package, name in _public_names()]
    missing = [path for path in missing if path not in documented]
    assert not missing, f"not in docs/api/: {', '.join(missing)}"


def test_the_api_reference_documents_nothing_private() -> None:
    public = {f"{package}.{name}" for package, name in _public_names()}
    extra = sorted(_documented_paths() - public)
    assert not extra, f"docs/api/ documents names that are not public: {', '.join(extra)}"


# The API reference renders docstrings as Markdown (Google style): Sphinx
# roles and reST literal-block markers would show up as raw text there.
_SPHINX = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):`|::\s*$", flags=re.MULTILINE)


def _rendered_docstrings() -> list[tuple[str, str]]:
    docs: dict[str, str] = {}
    for package, name in _public_names():
        obj = getattr(importlib.import_module(package), name)
        doc = _own_doc(obj) if inspect.isclass(obj) or inspect.isroutine(obj) else None
        if doc:
            docs[f"{package}.{name}"] = doc
        if inspect.isclass(obj) and _is_ours(obj):
            for member_name, member in _public_members(obj):
                member_doc = _own_doc(member)
                if member_doc:
                    docs[f"{package}.{name}.{member_name}"] = member_doc
    return sorted(docs.items())


def test_public_docstrings_are_markdown_not_rest() -> None:
    bad = [path for path, doc in _rendered_docstrings() if _SPHINX.search(doc)]
    assert not bad, f"Sphinx roles or '::' in: {', '.join(bad)}"
