"""The public surface: what importing loads, what is exported, and that it
is documented."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import expys_stream
import expys_stream._errors
import expys_stream.sse

REPO = Path(__file__).resolve().parent.parent
HEAVY = {"anyio", "httpcore", "h11", "msgspec", "trio", "sniffio", "httpx"}
PUBLIC_MODULES = [expys_stream, expys_stream.sse]

_LIST_MODULES = "import sys, json; {}; print(json.dumps(sorted(sys.modules)))"


def _modules_after(statement: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES.format(statement)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return set(json.loads(result.stdout))


@pytest.fixture(scope="module")
def baseline() -> set[str]:
    return _modules_after("pass")


@pytest.mark.parametrize(
    "statement",
    [
        "import expys_stream.sse",
        "import expys_stream",
        "from expys_stream.sse import SSEDecoder, encode_event",
        "import expys_stream; expys_stream.SSEDecoder; expys_stream.EventTooLarge",
    ],
)
def test_codec_import_loads_only_the_standard_library(statement: str, baseline: set[str]) -> None:
    loaded = _modules_after(statement)
    new = loaded - baseline
    assert not HEAVY & loaded
    ours = {name for name in new if name.split(".")[0] == "expys_stream"}
    foreign = {name.split(".")[0] for name in new - ours}
    assert foreign <= sys.stdlib_module_names, foreign - sys.stdlib_module_names
    # Within the package, only the codec (and the package itself).
    allowed = re.compile(r"expys_stream(\.sse(\._\w+)?|\._errors)?$")
    assert all(allowed.match(name) for name in ours), sorted(ours)
    assert "expys_stream" in ours


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_exactly_the_public_names(module: types.ModuleType) -> None:
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__)  # no duplicates
    for name in module.__all__:
        assert getattr(module, name) is not None
    assert exported <= set(dir(module))
    # Every other public-looking name is a submodule or a helper brought in
    # from elsewhere (typing.Any, importlib.import_module...), never one of
    # ours left out of __all__.
    for name in set(dir(module)) - exported:
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            continue
        origin = getattr(value, "__module__", None) or ""
        assert not origin.startswith("expys_stream"), name
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)
    assert set(namespace) - {"__builtins__"} == exported


def test_package_exports_the_codec_names() -> None:
    for name in ["SSEDecoder", "ServerSentEvent", "EventTooLarge", "ProtocolError", "ExpysError"]:
        assert getattr(expys_stream, name) is getattr(expys_stream.sse, name)
    with pytest.raises(AttributeError):
        _ = expys_stream.no_such_name  # type: ignore[attr-defined]


def _public_objects() -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            seen.append((f"{module.__name__}.{name}", getattr(module, name)))
    return seen


@pytest.mark.parametrize(("qualname", "obj"), _public_objects(), ids=lambda x: str(x))
def test_public_names_are_documented(qualname: str, obj: object) -> None:
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert (obj.__doc__ or "").strip(), qualname
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, property | types.FunctionType):
                    assert (value.__doc__ or "").strip(), f"{qualname}.{attr}"
    else:
        # A constant: documented by the string literal that follows its
        # assignment (what the API reference reads; tests/test_docstrings.py).
        name = qualname.rsplit(".", 1)[1]
        package = Path(expys_stream.__file__).parent
        sources = [path.read_text(encoding="utf-8") for path in package.rglob("*.py")]
        pattern = re.compile(rf'^{name}\s*(?::[^=]*)?=.*\n"""\S', re.MULTILINE)
        assert any(pattern.search(source) for source in sources), qualname


def test_modules_are_documented() -> None:
    for module in PUBLIC_MODULES:
        assert (module.__doc__ or "").strip(), module.__name__


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in [*PUBLIC_MODULES, expys_stream._errors]:
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found[name] = value
    return sorted(found.values(), key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", _exception_classes(), ids=lambda cls: cls.__name__)
def test_exceptions_live_in_the_package_namespace(cls: type[BaseException]) -> None:
    assert cls.__module__ == "expys_stream"
    assert issubclass(cls, expys_stream.ExpysError)


def test_there_are_exceptions_to_check() -> None:
    names = {cls.__name__ for cls in _exception_classes()}
    assert {"ExpysError", "ProtocolError", "EventTooLarge"} <= names


def test_max_retry_matches_the_reference_decoder() -> None:
    import naive_sse

    assert naive_sse.MAX_RETRY == expys_stream.sse.MAX_RETRY == 2**63 - 1
