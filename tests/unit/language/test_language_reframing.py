"""Reframing suggestions: the built-in rules, a user's extension, malformed rules files."""

from pathlib import Path

import pytest

from backchannel.errors import ConfigurationError, NotFoundError
from backchannel.language.coding import Coder
from backchannel.language.drift import LexicalEmbedder
from backchannel.language.pipeline import IdentityTranslator, LanguageAid
from backchannel.language.reframing import Reframer


@pytest.fixture(scope="module")
def reframer() -> Reframer:
    return Reframer.builtin()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Maximum pressure will continue.", "A structured incentive framework will continue."),
        ("You must accept the cap by Friday.", "We propose that you accept the cap by Friday."),
        ("We reject the plan.", "We are not able to accept the plan."),
    ],
)
def test_builtin_rules_soften_the_frame(reframer: Reframer, text: str, expected: str) -> None:
    suggestions = reframer.suggest(text)
    assert suggestions[0].text == expected
    assert len({s.text for s in suggestions}) == len(suggestions) <= 3
    assert suggestions[0].to_dict()["changes"][0]["rule"]


def test_suggestions_keep_numbers_and_lower_escalation(reframer: Reframer) -> None:
    text = "This is our final offer: a cap of 3.67% for 30 days, take it or leave it."
    coder = Coder()
    before = coder.code(text)
    assert before.escalatory
    for suggestion in reframer.suggest(text):
        assert "3.67%" in suggestion.text
        assert "30 days" in suggestion.text
        assert not coder.code(suggestion.text).escalatory, suggestion.text


def test_no_rule_no_suggestion(reframer: Reframer) -> None:
    assert reframer.suggest("We are ready to talk.") == []


def test_versions_are_named(reframer: Reframer) -> None:
    (source,) = reframer.versions
    assert source.startswith("reframings.toml ")


def test_user_rules_extend_and_override(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'version = "7"\n'
        '[[rule]]\nid = "maximum-pressure"\nfind = "maximum pressure"\nreplace = ["a calibrated incentive plan"]\n'
        '[[rule]]\nid = "snap"\nfind = "snap back"\nreplace = ["restore"]\n'
    )
    reframer = Reframer.builtin(path)
    assert (
        reframer.suggest("Maximum pressure and snap back.")[0].text
        == "A calibrated incentive plan and restore."
    )
    assert reframer.versions["mine.toml 7"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = ", "not valid TOML"),
        ('[[rule]]\nid = "a"\nfind = "x"\nreplace = ["y"]', r"bad\.toml\.version: must be"),
        ('version = "1"', r"bad\.toml\.rule: must be a non-empty array"),
        ('version = "1"\nrule = [1]', r"rule\[0\]: must be a table"),
        ('version = "1"\n[[rule]]\nfind = "x"\nreplace = ["y"]', r"rule\[0\]\.id: must be"),
        ('version = "1"\n[[rule]]\nid = "a"\nreplace = ["y"]', r"rule\[0\]\.find: must be"),
        (
            'version = "1"\n[[rule]]\nid = "a"\nfind = "("\nreplace = ["y"]',
            r"rule\[0\]\.find: not a valid regular",
        ),
        (
            'version = "1"\n[[rule]]\nid = "a"\nfind = "x"\nreplace = []',
            r"rule\[0\]\.replace: must be a non-empty",
        ),
        (
            'version = "1"\n[[rule]]\nid = "a"\nfind = "x"\nreplace = ["30 days"]',
            r"rule\[0\]\.replace: must not hold numbers",
        ),
        (
            'version = "1"\n[[rule]]\nid = "a"\nfind = "(x)"\nreplace = ["\\\\2"]',
            r"rule\[0\]\.replace: .* refers to group 2",
        ),
        (
            'version = "1"\n[[rule]]\nid = "a"\nfind = "x"\nreplace = ["y"]\n[[rule]]\nid = "a"\nfind = "z"\nreplace = ["y"]',
            r"rule\[1\]\.id: 'a' appears twice",
        ),
    ],
)
def test_malformed_rules_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        Reframer.builtin(path)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        Reframer.builtin(tmp_path / "absent.toml")


def test_pipeline_suggests_only_for_escalatory_messages() -> None:
    aid = LanguageAid(embedder=LexicalEmbedder())
    calm = aid.check("We are ready to talk.")
    assert calm.suggestions == ()
    assert "drift" not in calm.to_dict()
    hot = aid.check("You must accept by Friday.", reframed="We propose that you accept by Friday.")
    doc = hot.to_dict()
    assert doc["escalatory"] is True
    assert doc["suggestions"][0]["escalatory"] is False
    assert doc["suggestions"][0]["numbers_same"] is True
    assert doc["suggestions"][0]["commitment_flips"] == []
    threat = aid.check("We will strike the depots.").to_dict()["suggestions"][0]
    assert threat["commitment_flips"] == ["firm 'will' -> weak 'consider', 'would'"]
    assert doc["drift"]["blocked"] is False
    assert doc["translator"] == IdentityTranslator.name


def test_pipeline_uses_the_translator_seam() -> None:
    class Shouting:
        name = "upper-casing test translator"

        def to_english(self, text: str) -> str:
            return text.replace("Sie müssen", "You must")

    analysis = LanguageAid(embedder=LexicalEmbedder(), translator=Shouting()).check("Sie müssen zustimmen.")
    assert analysis.coding.escalatory
    assert analysis.translator == "upper-casing test translator"


DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "language"
# Reached with reframings.toml 1.1.0 on the escalatory sentences of both labelled files (211 of them);
# the rules were written from these sentences' misses, so this is a floor, not a generalisation figure.
WITH_SUGGESTION = 169
DE_ESCALATED = 152


def test_reframing_coverage_of_the_labelled_escalations_and_numbers_kept() -> None:
    import csv

    from backchannel.language.numbers import compare_numbers

    coder, reframer = Coder(), Reframer.builtin()
    texts = []
    for name in ("labelled.csv", "heldout.csv"):
        with (DATA / name).open(encoding="utf-8", newline="") as f:
            texts += [row["text"] for row in csv.DictReader(f)]
    escalatory = [t for t in texts if coder.code(t).escalatory]
    with_suggestion = de_escalated = 0
    for text in escalatory:
        suggestions = reframer.suggest(text)
        assert all(compare_numbers(text, s.text) for s in suggestions), text
        with_suggestion += bool(suggestions)
        de_escalated += any(not coder.code(s.text).escalatory for s in suggestions)
    print(
        f"reframing: {len(escalatory)} escalatory, {with_suggestion} with a suggestion, {de_escalated} de-escalated"
    )
    assert len(escalatory) == 211
    assert with_suggestion >= WITH_SUGGESTION
    assert de_escalated >= DE_ESCALATED
