"""Lexicons: the built-in TOML, the CAMEO verb dictionary, the ICEWS table, and malformed files."""

from pathlib import Path

import pytest

from backchannel.errors import ConfigurationError, NotFoundError
from backchannel.language.coding import Coder
from backchannel.language.lexicon import Lexicon, compile_phrase, load_dictionary

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "cameo"

GOOD = """
version = "0.1"
[codes]
"139" = { name = "Give ultimatum", goldstein = -7.0 }
[sets]
DAY = ["friday", "end_of_day"]
[[pattern]]
code = "139"
phrase = "by|before &DAY ... or"
"""


def test_builtin_lexicon_is_versioned_and_large_enough() -> None:
    lexicon = Lexicon.builtin()
    assert lexicon.name.startswith("lexicon.toml ")
    assert len(lexicon) >= 100
    assert lexicon.goldstein("139") == -7.0
    assert lexicon.goldstein("1399") == -7.0  # falls back to the parent code
    assert lexicon.goldstein("99") is None
    assert lexicon.name_of("99") == ""


def test_builtin_weights_agree_with_the_icews_table() -> None:
    table = load_dictionary(SHARED / "cameo-codes.icews.csv").codes
    builtin = Lexicon.builtin().codes
    disagree = {
        c: (i.goldstein, table[c].goldstein) for c, i in builtin.items() if table[c].goldstein != i.goldstein
    }
    assert disagree == {}


def test_cameo_dictionary_loads_with_notes_for_undefined_sets() -> None:
    lexicon = load_dictionary(SHARED / "CAMEO.2.0.txt")
    assert len(lexicon) > 4000
    assert all("unknown synonym set" in n for n in lexicon.notes)
    coding = Coder(lexicon.merged(Lexicon.builtin())).code(
        "Iran warned the United States of severe reprisals."
    )
    assert "130" in {c.code for c in coding.codes}
    assert any(c.source.startswith("CAMEO.2.0.txt") for c in coding.codes)


def test_user_toml_lexicon_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    lexicon = load_dictionary(path)
    coding = Coder(lexicon).code("Sign by end of day, or we leave.")
    assert [c.code for c in coding.codes] == ["139"]
    assert coding.codes[0].source == "mine.toml 0.1 #0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 1", r"version: must be a str"),
        (
            'version = "1"\n[codes]\n"13x" = { name = "x", goldstein = 1 }\npattern = []',
            r"codes\.13x: a CAMEO code",
        ),
        (
            'version = "1"\n[codes]\n"130" = { name = "x", goldstein = 11 }\npattern = []',
            r"codes\.130\.goldstein",
        ),
        ('version = "1"\n[codes]\n"130" = { name = "x", goldstein = -4 }', r"\.pattern: missing"),
        (GOOD.replace('code = "139"', 'code = "140"'), r"pattern\[0\]\.code: '140' is not in the \[codes\]"),
        (GOOD.replace("&DAY", "&MONTH"), r"pattern\[0\]\.phrase: unknown set &MONTH"),
        (GOOD.replace("... or", "...9 or"), r"pattern\[0\]\.phrase: a gap is"),
        (GOOD.replace('"friday", ', ""), None),
        (GOOD.replace('DAY = ["friday", "end_of_day"]', "DAY = []"), r"sets\.DAY: must be a non-empty list"),
        ("version = ", r"not valid TOML"),
    ],
)
def test_malformed_lexicon_names_the_field(tmp_path: Path, text: str, message: str | None) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    if message is None:
        assert len(load_dictionary(path)) == 1
        return
    with pytest.raises(ConfigurationError, match=message):
        load_dictionary(path)


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("", "must not be empty"),
        ("[we]", "needs at least one required word"),
        ("... we", "must not start or end with a gap"),
        ("we $$", "bad word"),
    ],
)
def test_bad_phrases_are_refused(phrase: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        compile_phrase(phrase, "130", "test")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---  WARN  [130]  ---\nWARN\n- * CONSEQUENCES\n", r"x\.txt: line 3: a pattern needs a \[code\]"),
        ("---  WARN  [130]  ---\nWARN\n- CONSEQUENCES [130]\n", r"line 3: a pattern needs the verb marker"),
        ("- * X [130]\n", r"line 1: a pattern outside a verb block"),
        ("---  WARN  130  ---\n", r"line 1: a verb block header"),
        ("---  WARN  [130]  ---\nwarn 12\n", r"line 2: bad verb form"),
        ("HELLO\n", r"line 1: not a synonym, verb or pattern line"),
        ("# only a comment\n", r"no verb patterns found"),
    ],
)
def test_malformed_cameo_dictionary_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.txt"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_dictionary(path)


def test_small_cameo_dictionary_with_sets_irregular_forms_and_phrases(tmp_path: Path) -> None:
    path = tmp_path / "mini.txt"
    path.write_text(
        "&THREAT_\n+REPRISAL\n+SANCTION\n\n"
        "---  WARN   [130]  ---\nWARN\nCAUTION\n- * {SEVERE &THREAT}    [1312]  # WARN\n"
        "---  BRING   [---]  ---\nBRING {BRINGS BRINGING BROUGHT }\n+CARRY_OUT [057]\n- * (TO TABLE) [036]\n"
    )
    coder = Coder(load_dictionary(path).merged(Lexicon.builtin()))
    assert {c.code for c in coder.code("They warned of severe sanctions.").codes} >= {"1312"}
    assert "036" in {c.code for c in coder.code("The envoy brought them back to the table.").codes}
    assert "057" in {c.code for c in coder.code("They will carry out the plan.").codes}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"code","name","goldstein"\n"13x","x","1"\n', r"line 2: code: a CAMEO code"),
        ('"code","name","goldstein"\n"130","T","minus"\n', r"line 2: goldstein: not a number"),
        ('"code","name","goldstein"\n"130","T","-12"\n', r"line 2: goldstein: must be from -10 to 10"),
        ('"code","name","goldstein"\n', r"no codes"),
    ],
)
def test_malformed_code_table_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "codes.csv"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_dictionary(path)


def test_code_table_without_a_name_column() -> None:
    from backchannel.language._cameo import parse_code_table

    with pytest.raises(ConfigurationError, match="line 1: missing column"):
        parse_code_table('"code","goldstein"\n"130","-4.4"\n', "t.csv")


def test_missing_dictionary_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        load_dictionary(tmp_path / "absent.txt")
