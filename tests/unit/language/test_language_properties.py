"""Properties over arbitrary text: coding and reframing never crash, explain themselves, keep numbers."""

from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import EncodingError
from backchannel.language.coding import Coder
from backchannel.language.numbers import compare_numbers
from backchannel.language.reframing import Reframer

CODER = Coder()
REFRAMER = Reframer.builtin()

# words the lexicon and the rules react to, mixed with noise, so that matches actually happen
WORDS = st.sampled_from(
    [
        "we",
        "you",
        "will",
        "must",
        "not",
        "never",
        "accept",
        "reject",
        "final",
        "offer",
        "or",
        "face",
        "the",
        "consequences",
        "by",
        "friday",
        "maximum",
        "pressure",
        "sanctions",
        "3.67%",
        "30",
        "days",
        "$6bn",
        "walk",
        "away",
        "from",
        "talks",
        "retaliate",
        "all",
        "means",
        "at",
        "our",
        "disposal",
        "lied",
        "bad",
        "faith",
        "ready",
        "to",
        "meet",
        "propose",
        "ceasefire",
        "won't",
        "can't",
        ".",
        "!",
        "?",
        ";",
        ",",
        "—",
        "stop",
        "immediately",
    ]
)
texts = st.one_of(st.text(max_size=300), st.lists(WORDS, min_size=1, max_size=40).map(" ".join))


@settings(max_examples=300)
@given(texts)
def test_coding_never_crashes_and_every_match_is_in_the_text(text: str) -> None:
    try:
        coding = CODER.code(text)
    except EncodingError:
        assert not text.strip()
        return
    for code in coding.codes:
        assert code.match
        assert code.match in coding.text
        assert code.pattern
        assert code.source
    assert coding.escalatory == bool(coding.reason)
    if coding.goldstein is not None:
        assert coding.goldstein == min(c.goldstein for c in coding.codes if c.goldstein is not None)
    assert CODER.code(text) == coding  # deterministic


@settings(max_examples=300)
@given(texts)
def test_reframing_never_crashes_and_keeps_every_number(text: str) -> None:
    if not text.strip():
        return
    for suggestion in REFRAMER.suggest(text):
        assert compare_numbers(text, suggestion.text), (text, suggestion.text)
        assert suggestion.changes
