"""The escalation coder: first-person patterns, the ICEWS example sentences, the labelled set."""

import csv
from pathlib import Path

import pytest

from backchannel.errors import ConfigurationError, EncodingError, PayloadTooLargeError
from backchannel.language._text import MAX_TEXT_CHARS
from backchannel.language.coding import Coder, Thresholds
from backchannel.language.lexicon import Lexicon, load_dictionary

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT / ".." / "shared" / "cameo"
LABELLED = ROOT / "tests" / "data" / "language" / "labelled.csv"
HELDOUT = ROOT / "tests" / "data" / "language" / "heldout.csv"

# Figures reached with lexicon.toml 1.4.0 (ADR-0040); a change that lowers them fails.
ICEWS_CODED = 277  # every example sentence gets at least one code
ICEWS_PRIMARY_ROOT_MATCHES = 134  # of 277 examples: 48.4 %
ICEWS_ANY_ROOT_MATCHES = 185  # 66.8 %
# the development set (the lexicon was tuned on it): 443 sentences, 217 escalatory
LABELLED_TRUE_POSITIVES = 198  # recall 91.2 %
LABELLED_FALSE_POSITIVES = 0  # precision 100 %
# the held-out set, written after lexicon 1.3.0 and never tuned on (1.4.0 only added third-person report
# verbs, from the ICEWS examples): 80 sentences, 40 escalatory
HELDOUT_TRUE_POSITIVES = 13  # recall 32.5 %
HELDOUT_FALSE_POSITIVES = 0  # precision 100 %


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


@pytest.fixture(scope="module")
def full_coder() -> Coder:
    lexicon = Lexicon.builtin()
    lexicon = lexicon.merged(load_dictionary(SHARED / "CAMEO.2.0.txt"))
    return Coder(lexicon.merged(load_dictionary(SHARED / "cameo-codes.icews.csv")))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("We will respond with all means at our disposal.", "138"),
        ("You must accept by Friday.", "100"),
        ("This is an ultimatum: accept by Friday or face the consequences.", "139"),
        ("We reject your proposal.", "127"),
        ("Sanctions relief is off the table.", "124"),
        ("We will walk away from these talks.", "134"),
        ("We won't back down.", "124"),
    ],
)
def test_first_and_second_person_threats_and_demands_are_escalatory(
    coder: Coder, text: str, code: str
) -> None:
    coding = coder.code(text)
    assert coding.escalatory, coding
    assert code in {c.code for c in coding.codes}
    assert coding.goldstein is not None
    assert coding.goldstein <= -4.0
    assert coding.reason  # every flag says why, naming the pattern
    assert "pattern" in coding.reason


def test_every_code_names_its_phrase_and_pattern(coder: Coder) -> None:
    coding = coder.code("We will respond with all means at our disposal.")
    (threat,) = [c for c in coding.codes if c.code == "138"][:1]
    assert threat.match in coding.text
    assert threat.pattern
    assert threat.source.startswith("lexicon.toml ")
    assert threat.to_dict()["goldstein"] == -7.0


@pytest.mark.parametrize(
    "text",
    [
        "We are ready to resume talks next week.",
        "We do not threaten anyone.",
        "We cannot accept this proposal in its current form, but we are ready to keep talking.",
        "We propose a structured incentive framework.",
        "The weather in Doha is pleasant.",
    ],
)
def test_cooperative_or_negated_messages_are_not_escalatory(coder: Coder, text: str) -> None:
    coding = coder.code(text)
    assert not coding.escalatory, coding.reason
    assert coding.reason == ""


def test_cooperation_gets_positive_codes(coder: Coder) -> None:
    coding = coder.code("We are prepared to ease sanctions once inspections begin.")
    assert {"0354"} <= {c.code for c in coding.codes}
    assert all((c.goldstein or 0) > 0 for c in coding.codes)


def test_two_accusations_add_up(coder: Coder) -> None:
    coding = coder.code("You are negotiating in bad faith and spreading lies.")
    assert coding.escalatory
    assert "add up to -4.0" in coding.reason


def test_coding_is_deterministic(coder: Coder) -> None:
    text = "We will not tolerate any further violations; this is a final warning."
    first = coder.code(text).to_dict()
    assert all(Coder().code(text).to_dict() == first for _ in range(3))


def test_thresholds_are_validated() -> None:
    with pytest.raises(ConfigurationError, match=r"thresholds\.single"):
        Thresholds(single=0.5)
    with pytest.raises(ConfigurationError, match=r"thresholds\.cumulative"):
        Thresholds(cumulative=1.0)


def test_a_stricter_threshold_flags_less() -> None:
    text = "We reject your proposal."
    assert Coder().code(text).escalatory
    assert not Coder(thresholds=Thresholds(single=-6.0, cumulative=-9.0)).code(text).escalatory


@pytest.mark.parametrize("bad", ["", "   \n", 42])
def test_empty_or_non_text_is_refused_naming_the_field(coder: Coder, bad: object) -> None:
    with pytest.raises(EncodingError, match=r"^text: must"):
        coder.code(bad)  # type: ignore[arg-type]


def test_oversize_text_is_refused_with_the_limit(coder: Coder) -> None:
    with pytest.raises(PayloadTooLargeError, match=str(MAX_TEXT_CHARS)):
        coder.code("a" * (MAX_TEXT_CHARS + 1))
    assert not coder.code("a " * (MAX_TEXT_CHARS // 2)).escalatory  # at the limit: accepted


def test_icews_example_sentences_root_code_rate(full_coder: Coder) -> None:
    examples = [c for c in full_coder.lexicon.codes.values() if c.example]
    assert len(examples) == 277
    primary = any_root = coded = 0
    for info in examples:
        coding = full_coder.code(info.example or "")
        coded += bool(coding.codes)
        primary += coding.primary is not None and coding.primary.root_code() == info.root
        any_root += any(c.code[:2] == info.root for c in coding.codes)
    print(f"ICEWS examples: {coded} coded, primary root {primary}/277, any root {any_root}/277")
    assert coded >= ICEWS_CODED
    assert primary >= ICEWS_PRIMARY_ROOT_MATCHES
    assert any_root >= ICEWS_ANY_ROOT_MATCHES


def _precision_recall(coder: Coder, path: Path) -> tuple[int, int, int, int]:
    """(rows, escalatory rows, true positives, false positives) of the coder on a labelled CSV."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    positives = sum(r["escalatory"] == "1" for r in rows)
    tp = fp = 0
    for row in rows:
        flagged = coder.code(row["text"]).escalatory
        tp += flagged and row["escalatory"] == "1"
        fp += flagged and row["escalatory"] == "0"
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"{path.name}: {len(rows)} sentences, precision {precision:.3f}, recall {tp / positives:.3f}")
    return len(rows), positives, tp, fp


def test_labelled_first_person_set_precision_and_recall(coder: Coder) -> None:
    rows, positives, tp, fp = _precision_recall(coder, LABELLED)
    assert rows >= 200
    assert 0.45 <= positives / rows <= 0.55  # balanced
    assert tp >= LABELLED_TRUE_POSITIVES
    assert fp <= LABELLED_FALSE_POSITIVES


def test_heldout_first_person_set_precision_and_recall(coder: Coder) -> None:
    rows, positives, tp, fp = _precision_recall(coder, HELDOUT)
    assert (rows, positives) == (80, 40)
    assert tp >= HELDOUT_TRUE_POSITIVES
    assert fp <= HELDOUT_FALSE_POSITIVES
