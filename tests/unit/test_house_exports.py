"""The public surface: ``backchannel.__all__`` is pinned (trio's test_exports), ``python -m backchannel`` works,
and every adapter module imports on its own."""

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import backchannel

PINNED = [
    "BackchannelClient",
    "BackchannelError",
    "Clock",
    "CommitmentSecret",
    "ConfigurationError",
    "ConflictError",
    "DomainError",
    "EncodingError",
    "ForkDetectedError",
    "InsufficientCosignaturesError",
    "KeyPair",
    "NotFoundError",
    "OperationalError",
    "ProblemError",
    "ReceiptProof",
    "Settings",
    "StorageError",
    "SystemClock",
    "VerificationError",
    "WouldBlock",
    "deal_hash",
    "generate_agreement_key",
    "generate_signing_key",
    "read_key_file",
    "receipt_digest",
    "witness_policy",
    "write_key_file",
]
PACKAGE = Path(backchannel.__file__).resolve().parent


def test_the_curated_api_is_pinned() -> None:
    assert sorted(backchannel.__all__) == backchannel.__all__ == PINNED


@pytest.mark.parametrize("name", PINNED)
def test_every_exported_name_resolves_to_a_documented_object_of_ours(name: str) -> None:
    value = getattr(backchannel, name)
    assert name in dir(backchannel)
    assert inspect.getdoc(value), f"{name} has no docstring"
    assert getattr(value, "__module__", "").startswith("backchannel."), value
    assert not name.startswith("_")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = backchannel.nope  # type: ignore[attr-defined]


def test_the_client_and_its_sub_clients_are_reachable_from_the_top() -> None:
    client = backchannel.BackchannelClient(
        "http://127.0.0.1:1", "usa/principal", backchannel.KeyPair.generate("usa/principal")
    )
    try:
        for capability in (
            "log",
            "inbox",
            "deals",
            "escrow",
            "attestations",
            "obligations",
            "texts",
            "annexes",
        ):
            assert type(getattr(client, capability)).__module__ == f"backchannel.sdk.{capability}"
        assert callable(client.deals.vote)
    finally:
        client.close()


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_python_dash_m_backchannel_runs_the_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "backchannel", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage: backchannel" in proc.stdout
    assert "serve" in proc.stdout


def test_importing_the_log_does_not_load_the_http_client() -> None:
    proc = _python("import sys, backchannel.log.canonical; print('httpx' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def _modules(package: str) -> list[str]:
    root = PACKAGE / package
    return sorted(
        f"backchannel.{package}.{p.stem}" if p.stem != "__init__" else f"backchannel.{package}"
        for p in root.glob("*.py")
    )


IMPORT_EACH = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "backchannel" or m.startswith("backchannel.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as e:  # report every module that does not import on its own
        failed.append(f"{name}: {type(e).__name__}: {e}")
print("\\n".join(failed))
"""


@pytest.mark.parametrize("package", ["cli", "demo", "api", "sdk", "protocol"])
def test_every_module_imports_on_its_own(package: str) -> None:
    modules = _modules(package)
    assert len(modules) >= 3, modules
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, *modules],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


def test_the_import_check_reports_a_module_that_does_not_import() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, "backchannel.cli.main", "backchannel.cli.no_such_module"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.stdout.strip().splitlines() == [
        "backchannel.cli.no_such_module: ModuleNotFoundError: No module named 'backchannel.cli.no_such_module'"
    ]
