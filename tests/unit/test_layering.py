"""Pin the import rules of DESIGN.md ("Import rules (pin them with a test)").

- ``backchannel.domain`` imports nothing of ours but ``backchannel.errors``;
- ``backchannel.log`` imports only ``backchannel.errors``, ``backchannel.log`` and ``backchannel.domain``;
- nothing under domain, log, store, broker, forecast, sim, language, negotiation, coordination imports
  ``backchannel.api`` or ``backchannel.cli``;
- ``backchannel.store`` does not import ``backchannel.service``;
- domain and log import no I/O or framework modules.

Every import statement counts, including those under ``if TYPE_CHECKING:`` and inside functions.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import backchannel

SRC = Path(backchannel.__file__).resolve().parent.parent
PACKAGE = SRC / "backchannel"

FORBIDDEN_IN_PURE_LAYERS = frozenset(
    {
        "sqlite3",
        "socket",
        "asyncio",
        "fastapi",
        "pydantic",
        "typer",
        "rich",
        "random",
        "os",
        "pathlib",
        "time",
    }
)
LOWER_LAYERS = (
    "domain",
    "log",
    "store",
    "broker",
    "forecast",
    "sim",
    "language",
    "negotiation",
    "coordination",
)


@dataclass(frozen=True)
class Import:
    file: str  # path relative to src/
    line: int
    target: str  # absolute dotted module name

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.target}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str, root: Path) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(source: str, module: str, *, is_package: bool, file: str, root: Path) -> list[Import]:
    """Absolute targets of every ``import`` / ``from ... import`` in ``source``.

    ``from a.b import c`` yields ``a.b.c`` when that is a module under ``root``, else ``a.b``.
    Relative imports are resolved against ``module``.
    """
    found: list[Import] = []
    package_parts = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Import):
            found.extend(Import(file, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package_parts[: len(package_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                target = candidate if alias.name != "*" and _is_module(candidate, root) else base
                found.append(Import(file, node.lineno, target))
    return found


def all_imports(root: Path = SRC) -> dict[str, list[Import]]:
    """Module name -> its imports, for every .py under ``root/backchannel``."""
    result: dict[str, list[Import]] = {}
    for path in sorted((root / "backchannel").rglob("*.py")):
        name = module_name(path, root)
        result[name] = imports_of(
            path.read_text(encoding="utf-8"),
            name,
            is_package=path.name == "__init__.py",
            file=str(path.relative_to(root)),
            root=root,
        )
    return result


def _within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def _ours(target: str) -> bool:
    return _within(target, "backchannel")


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def violations(imports: dict[str, list[Import]]) -> list[str]:
    """Every broken rule, one line each, naming the file, line and import."""
    problems: list[str] = []
    for module, found in imports.items():
        layer = layer_of(module)
        for imp in found:
            t = imp.target
            if (
                layer == "domain"
                and _ours(t)
                and not (_within(t, "backchannel.errors") or _within(t, "backchannel.domain"))
            ):
                problems.append(f"{imp}: domain may import only backchannel.errors and backchannel.domain")
            if layer == "log" and _ours(t):
                allowed = ("backchannel.errors", "backchannel.log", "backchannel.domain")
                if not any(_within(t, a) for a in allowed):
                    problems.append(f"{imp}: log may import only backchannel.errors, .log and .domain")
            if layer in LOWER_LAYERS and (_within(t, "backchannel.api") or _within(t, "backchannel.cli")):
                problems.append(f"{imp}: {layer} must not import the api or cli adapters")
            if layer in {"store", "broker"} and _within(t, "backchannel.service"):
                problems.append(f"{imp}: store must not import backchannel.service")
            if layer in {"domain", "log", "broker"} and t.split(".")[0] in FORBIDDEN_IN_PURE_LAYERS:
                problems.append(
                    f"{imp}: {layer} must stay pure (no I/O or framework module {t.split('.')[0]})"
                )
    return problems


# --------------------------------------------------------------------------------------------------
# The rules, on the real source tree
# --------------------------------------------------------------------------------------------------


def test_the_source_tree_is_where_we_look() -> None:
    imports = all_imports()
    # the scan sees the modules it polices; an empty scan would pass vacuously
    assert "backchannel.log.canonical" in imports
    assert "backchannel.log.signing" in imports
    assert "backchannel.domain" in imports
    assert any(str(i.target) == "backchannel.errors" for i in imports["backchannel.log.canonical"])
    assert len(imports) >= 10


def test_import_rules_hold() -> None:
    problems = violations(all_imports())
    assert not problems, "import rules of DESIGN.md broken:\n" + "\n".join(problems)


# --------------------------------------------------------------------------------------------------
# The checker itself can fail (synthetic trees)
# --------------------------------------------------------------------------------------------------


_STUBS = [
    "backchannel/__init__.py",
    "backchannel/errors.py",
    "backchannel/clock.py",
    "backchannel/keyfile.py",
    "backchannel/log/merkle.py",
    "backchannel/service/log.py",
    "backchannel/store/base.py",
    "backchannel/api/app.py",
    "backchannel/cli/main.py",
]


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, list[Import]]:
    """Write a synthetic source tree (stub modules plus ``files``) and scan it."""
    for rel, text in {**dict.fromkeys(_STUBS, ""), **files}.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        for parent in p.relative_to(tmp_path).parents:
            init = tmp_path / parent / "__init__.py"
            if parent != Path() and not init.exists():
                init.write_text("")
        p.write_text(text)
    return all_imports(tmp_path)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"backchannel/domain/deals.py": "from backchannel.log import merkle\n"}, "backchannel.log.merkle"),
        ({"backchannel/domain/deals.py": "import backchannel.store\n"}, "backchannel.store"),
        ({"backchannel/domain/deals.py": "from backchannel import clock\n"}, "backchannel.clock"),
        ({"backchannel/domain/x.py": "from .. import keyfile\n"}, "backchannel.keyfile"),
        ({"backchannel/log/a.py": "from backchannel.store.base import X\n"}, "backchannel.store.base"),
        ({"backchannel/log/a.py": "from ..service import log\n"}, "backchannel.service.log"),
        (
            {"backchannel/log/a.py": "def f():\n    from backchannel.keyfile import read_key_file\n"},
            "keyfile",
        ),
        ({"backchannel/store/s.py": "from backchannel.cli.main import app\n"}, "backchannel.cli.main"),
        ({"backchannel/sim/r.py": "import backchannel.api.app\n"}, "backchannel.api.app"),
        ({"backchannel/broker/q.py": "from backchannel import api\n"}, "backchannel.api"),
        ({"backchannel/store/s.py": "from backchannel.service import log\n"}, "backchannel.service.log"),
        ({"backchannel/log/a.py": "import os.path\n"}, "os.path"),
        ({"backchannel/domain/a.py": "from pathlib import Path\n"}, "pathlib"),
        ({"backchannel/domain/a.py": "import time\n"}, "time"),
        (
            {
                "backchannel/log/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sqlite3\n"
            },
            "sqlite3",
        ),
        ({"backchannel/domain/a.py": "import random as r\n"}, "random"),
    ],
)
def test_checker_reports_violations_naming_file_and_import(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    problems = violations(_tree(tmp_path, files))
    (rel,) = files
    assert problems, f"no violation reported for {files}"
    assert all(p.startswith(f"{rel}:") for p in problems), problems
    assert any(expected in p for p in problems), problems


def test_checker_accepts_allowed_imports(tmp_path: Path) -> None:
    files = {
        "backchannel/domain/deals.py": "from backchannel.errors import DomainError\nfrom . import ids\n",
        "backchannel/domain/ids.py": "from backchannel.domain.deals import X\nimport datetime, hashlib\n",
        "backchannel/log/a.py": "from backchannel.domain import ids\nfrom backchannel.log.b import y\nimport json\n",
        "backchannel/log/b.py": "from .a import x\nfrom backchannel.errors import EncodingError\n",
        "backchannel/store/s.py": "import os, sqlite3\nfrom backchannel.log.a import x\n",
        "backchannel/service/log.py": "from backchannel.store.s import S\nfrom backchannel.cli import main\n",
        "backchannel/cli/main.py": "import typer, rich\nfrom backchannel.service.log import L\n",
    }
    assert violations(_tree(tmp_path, files)) == []


def test_relative_imports_resolve_against_the_module(tmp_path: Path) -> None:
    imports = _tree(
        tmp_path,
        {
            "backchannel/log/__init__.py": "from . import canonical\n",
            "backchannel/log/canonical.py": "from ..errors import E\nfrom .signing import k\n",
            "backchannel/log/signing.py": "",
            "backchannel/errors.py": "",
        },
    )
    assert [i.target for i in imports["backchannel.log"]] == ["backchannel.log.canonical"]
    assert [i.target for i in imports["backchannel.log.canonical"]] == [
        "backchannel.errors",
        "backchannel.log.signing",
    ]
    assert (
        str(imports["backchannel.log.canonical"][1])
        == "backchannel/log/canonical.py:2 imports backchannel.log.signing"
    )
