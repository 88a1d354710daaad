"""RFC 8785 canonical JSON: published vectors, refusals, fast/reference path agreement."""

import enum
import json
import math
import struct
import types

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import EncodingError
from backchannel.log.canonical import MAX_SAFE_INTEGER, canonicalize, loads_strict, parse_canonical

# --------------------------------------------------------------------------------------------------
# RFC 8785 published examples.
#
# Source: RFC 8785 "JSON Canonicalization Scheme (JCS)", A. Rundgren, B. Jordan, S. Erdtman, June 2020,
# transcribed from the RFC text: §3.2.2 (input object), §3.2.3 (its canonical form and the sorting
# test data with its expected order), §3.2.4 (the UTF-8 bytes in hex) and Appendix B, Table 1.
# --------------------------------------------------------------------------------------------------

# §3.2.2: "Assume the following JSON object is parsed:" (verbatim JSON text; raw string keeps escapes).
RFC8785_3_2_2_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""

# §3.2.3: the canonicalized version (the RFC adds a line wrap "for display purposes only").
RFC8785_3_2_3_OUTPUT = (
    r"""{"literals":[null,true,false],"numbers":[333333333.3333333,"""
    r"""1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"""
).encode()

# §3.2.4: the same bytes in hexadecimal.
RFC8785_3_2_4_HEX = """
    7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
    75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
    5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
    65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
    5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
    30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d
"""

# §3.2.3: "The following JSON test data can be used for verifying the correctness of the sorting scheme".
RFC8785_3_2_3_SORTING_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""

# §3.2.3: "Expected argument order after sorting property strings:"
RFC8785_3_2_3_SORTED_VALUES = [
    "Carriage Return",
    "One",
    "Control",
    "Latin Small Letter O With Diaeresis",
    "Euro Sign",
    "Emoji: Grinning Face",
    "Hebrew Letter Dalet With Dagesh",
]

# Appendix B, Table 1: IEEE 754 (hex) -> JSON representation. The NaN and Infinity rows have no
# representation and are tested as refusals below.
RFC8785_APPENDIX_B = [
    ("0000000000000000", "0"),  # Zero
    ("8000000000000000", "0"),  # Minus zero
    ("0000000000000001", "5e-324"),  # Min pos number
    ("8000000000000001", "-5e-324"),  # Min neg number
    ("7fefffffffffffff", "1.7976931348623157e+308"),  # Max pos number
    ("ffefffffffffffff", "-1.7976931348623157e+308"),  # Max neg number
    ("4340000000000000", "9007199254740992"),  # Max pos int (1)
    ("c340000000000000", "-9007199254740992"),  # Max neg int (1)
    ("4430000000000000", "295147905179352830000"),  # ~2**68 (2)
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),  # Round to even (4)
]
RFC8785_APPENDIX_B_NOT_REPRESENTABLE = ["7fffffffffffffff", "7ff0000000000000"]  # NaN, Infinity


def ieee754(hex_bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(hex_bits))[0]
    return value


def test_rfc8785_3_2_2_example_canonical_form() -> None:
    value = loads_strict(RFC8785_3_2_2_INPUT)
    assert canonicalize(value) == RFC8785_3_2_3_OUTPUT
    assert canonicalize(value) == bytes.fromhex(RFC8785_3_2_4_HEX)
    assert parse_canonical(RFC8785_3_2_3_OUTPUT) == value


def test_rfc8785_3_2_3_sorting_uses_utf16_code_units() -> None:
    value = loads_strict(RFC8785_3_2_3_SORTING_INPUT)
    out = canonicalize(value)
    # order of the values as they appear in the output (json.loads keeps document order)
    assert list(json.loads(out).values()) == RFC8785_3_2_3_SORTED_VALUES
    # and the whole text: "\r" escaped, the rest raw UTF-8
    assert out == (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode("utf-8")
    # code-point order would put U+FB33 before U+1F600: make sure the example exercises the difference
    assert sorted(value) != sorted(value, key=lambda k: k.encode("utf-16-be"))


@pytest.mark.parametrize(("bits", "expected"), RFC8785_APPENDIX_B)
def test_rfc8785_appendix_b_number_serialisation(bits: str, expected: str) -> None:
    number = ieee754(bits)
    assert canonicalize(number) == expected.encode("ascii")
    assert canonicalize([number]) == f"[{expected}]".encode("ascii")


@pytest.mark.parametrize("bits", RFC8785_APPENDIX_B_NOT_REPRESENTABLE)
def test_rfc8785_appendix_b_nan_and_infinity_are_refused(bits: str) -> None:
    with pytest.raises(EncodingError, match="not representable"):
        canonicalize(ieee754(bits))


# --------------------------------------------------------------------------------------------------
# canonicalize: what it refuses and accepts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, [1, math.nan], {"a": {"b": -math.inf}}],
    ids=["nan", "inf", "-inf", "nan-in-list", "-inf-nested"],
)
def test_canonicalize_refuses_non_finite_floats(value: object) -> None:
    with pytest.raises(EncodingError, match="not representable in canonical JSON") as info:
        canonicalize(value)  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, rfc8785.CanonicalizationError)


@pytest.mark.parametrize(
    "value", [2**53, -(2**53), 2**64, [0, 2**53], {"n": -(2**53)}, {"n": 2**53, "x": 1.5}]
)
def test_canonicalize_refuses_integers_outside_the_safe_range(value: object) -> None:
    with pytest.raises(EncodingError, match=r"outside the range JSON carries exactly"):
        canonicalize(value)  # type: ignore[arg-type]


def test_canonicalize_accepts_the_safe_integer_bounds() -> None:
    assert MAX_SAFE_INTEGER == 2**53 - 1
    assert canonicalize(2**53 - 1) == b"9007199254740991"
    assert canonicalize(-(2**53 - 1)) == b"-9007199254740991"
    assert canonicalize({"a": [2**53 - 1, 0.5]}) == b'{"a":[9007199254740991,0.5]}'


def test_bool_is_not_treated_as_int() -> None:
    assert canonicalize(True) == b"true"
    assert canonicalize(False) == b"false"
    assert canonicalize([True, 1, False, 0]) == b"[true,1,false,0]"
    assert canonicalize({"t": True, "f": 0.5}) == b'{"f":0.5,"t":true}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "a"}, "object key 1 is not a string"),
        ({"ok": {None: 1}}, "object key None is not a string"),
        ({(1, 2): 1}, "object key"),
        ({1, 2}, "set is not a JSON type"),
        (b"bytes", "bytes is not a JSON type"),
        (bytearray(b"x"), "bytearray is not a JSON type"),
        (object(), "object is not a JSON type"),
        ([1, {"a": frozenset()}], "frozenset is not a JSON type"),
        (range(3), "range is not a JSON type"),
    ],
)
def test_canonicalize_refuses_non_json_types_and_keys(value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        canonicalize(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",  # lone high surrogate in a string (fast path)
        ["ok", "x\udfffy"],  # lone low surrogate, nested
        {"\udc00": 1},  # lone surrogate in a key that takes the fast path
        {"\udc00\ue000": 1},  # ... in a key that takes the reference path (UTF-16 sort)
        ["\ud800", 1.5],  # ... in a string on the reference path (a float forces it)
        {"k": "\ud83d"},  # half of a surrogate pair
    ],
)
def test_canonicalize_refuses_lone_surrogates(value: object) -> None:
    with pytest.raises(EncodingError, match=r"not valid Unicode|not representable") as info:
        canonicalize(value)  # type: ignore[arg-type]
    assert info.value.__cause__ is not None


def nested_lists(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def nested_dicts(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_canonicalize_accepts_256_levels_of_nesting() -> None:
    assert canonicalize(nested_lists(256)) == b"[" * 256 + b"0" + b"]" * 256  # type: ignore[arg-type]
    assert canonicalize(nested_dicts(256)).count(b"{") == 256  # type: ignore[arg-type]


@pytest.mark.parametrize("build", [nested_lists, nested_dicts])
@pytest.mark.parametrize("depth", [258, 1000, 5000])
def test_canonicalize_refuses_nesting_deeper_than_256(build, depth: int) -> None:
    with pytest.raises(EncodingError, match="nested deeper than 256"):
        canonicalize(build(depth))


@pytest.mark.parametrize("build", [nested_lists, nested_dicts])
def test_canonicalize_refuses_257_levels_of_nesting(build) -> None:
    with pytest.raises(EncodingError, match="nested deeper than 256"):
        canonicalize(build(257))


def test_canonicalize_accepts_tuples_and_sorts_nested_keys() -> None:
    assert canonicalize((1, "a", None)) == b'[1,"a",null]'
    assert canonicalize({"b": [{"d": 1, "c": 2}], "a": {}, "": []}) == b'{"":[],"a":{},"b":[{"c":2,"d":1}]}'


def test_canonicalize_strings_per_rfc8785_3_2_2_2() -> None:
    # control characters: \b \t \n \f \r named, the rest lowercase \u00hh; " and \ escaped; / and DEL raw
    text = "".join(chr(c) for c in range(0x20)) + '"\\/\x7f\u2028'
    expected = (
        '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f'
        "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
        '\\u001d\\u001e\\u001f\\"\\\\/\x7f\u2028"'
    ).encode("utf-8")
    assert canonicalize(text) == expected
    assert canonicalize([text, 0.5]) == b"[" + expected + b",0.5]"  # reference path agrees


def test_canonicalize_keys_at_and_above_u_e000_sort_by_utf16() -> None:
    # U+E000..U+FFFF sort after the surrogates of supplementary-plane characters in UTF-16.
    value = {"\uffff": 1, "\U00010000": 2, "\ue000": 3, "\ud7ff": 4, "a": 5}
    assert list(json.loads(canonicalize(value)).values()) == [5, 4, 2, 3, 1]


class _Level(enum.IntEnum):
    LOW = 1
    UNSAFE = 2**53


class _Colour(enum.StrEnum):
    RED = "red"


class _Ratio(float):
    pass


def test_canonicalize_accepts_int_float_and_str_subclasses_as_their_base_type() -> None:
    assert canonicalize(_Level.LOW) == b"1"
    assert canonicalize({"level": _Level.LOW, "colour": _Colour.RED}) == b'{"colour":"red","level":1}'
    assert canonicalize([_Ratio(0.5), _Ratio(1e21)]) == b"[0.5,1e+21]"


def test_canonicalize_refuses_unsafe_int_subclass() -> None:
    with pytest.raises(EncodingError, match="outside the range JSON carries exactly"):
        canonicalize({"level": _Level.UNSAFE})


def test_canonicalize_accepts_any_mapping() -> None:
    assert canonicalize(types.MappingProxyType({"b": 1, "a": 2})) == b'{"a":2,"b":1}'


# --------------------------------------------------------------------------------------------------
# The fast path (json C encoder) and the reference path (rfc8785.dumps) agree
# --------------------------------------------------------------------------------------------------

_SAFE_INT = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
_TEXT = st.one_of(
    st.text(max_size=8),
    st.text(st.characters(min_codepoint=0xE000), max_size=4),  # private use, specials, supplementary planes
    st.text(st.sampled_from(["a", "\x00", "\x1f", '"', "\\", "\ud7ff", "\ue000", "\uffff", "\U0001f600"])),
)


_FINITE = st.floats(allow_nan=False, allow_infinity=False)


def _reads_back(number: float) -> bool:
    """Exclude the floats of the known round-trip bug (see test_canonical_float_output_reads_back)."""
    return not (number.is_integer() and 2**53 <= abs(number) < 1e21)


def json_values(*, floats: st.SearchStrategy[float] | None) -> st.SearchStrategy[object]:
    scalars: list[st.SearchStrategy[object]] = [st.none(), st.booleans(), _SAFE_INT, _TEXT]
    if floats is not None:
        scalars.append(floats)
    return st.recursive(
        st.one_of(*scalars),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(_TEXT, children, max_size=4),
        ),
        max_leaves=12,
    )


@settings(max_examples=300, deadline=None)
@given(json_values(floats=None))
def test_fast_path_matches_rfc8785_reference(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(json_values(floats=_FINITE))
def test_canonicalize_matches_rfc8785_reference_with_floats(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_canonical_numbers_round_trip_exactly(number: float) -> None:
    text = canonicalize(number)
    assert float(text) == number
    assert b" " not in text
    assert not text.endswith(b".0")


@pytest.mark.parametrize("number", [2.0**53, 1e16, -1e20, 2.0**68])
def test_canonical_float_output_reads_back(number: float) -> None:
    data = canonicalize({"x": number})
    assert canonicalize(parse_canonical(data)) == data


# --------------------------------------------------------------------------------------------------
# loads_strict
# --------------------------------------------------------------------------------------------------


def test_loads_strict_accepts_str_and_bytes() -> None:
    assert loads_strict('{"a": [1, 2.5, "\u00e9", null, true]}') == {"a": [1, 2.5, "\u00e9", None, True]}
    assert loads_strict('{"a": [1, 2.5, "\u00e9", null, true]}'.encode()) == {
        "a": [1, 2.5, "\u00e9", None, True]
    }
    assert loads_strict(b"9007199254740991") == MAX_SAFE_INTEGER
    assert loads_strict("-9007199254740991") == -MAX_SAFE_INTEGER


@pytest.mark.parametrize(
    ("text", "key"),
    [('{"a": 1, "a": 2}', "'a'"), ('{"x": {"b": 1, "c": 2, "b": 1}}', "'b'"), ('[{"": 1, "": 1}]', "''")],
)
def test_loads_strict_refuses_duplicate_keys_naming_the_key(text: str, key: str) -> None:
    with pytest.raises(EncodingError, match=f"duplicate object key {key}"):
        loads_strict(text)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_loads_strict_refuses_nan_and_infinity_literals(literal: str) -> None:
    with pytest.raises(EncodingError, match=f"{literal} is not valid JSON"):
        loads_strict(f'{{"x": [{literal}]}}')


@pytest.mark.parametrize(
    "text", ["9007199254740993", "-9007199254740993", "[1, 123456789012345678901234567890]"]
)
def test_loads_strict_refuses_unsafe_integers(text: str) -> None:
    with pytest.raises(EncodingError, match="outside the range JSON carries exactly"):
        loads_strict(text)


@pytest.mark.parametrize(
    "text", ["9007199254740992", "-10000000000000000", "295147905179352825856", "295147905179352830000"]
)
def test_loads_strict_reads_whole_doubles_beyond_2_53_as_the_exact_double(text: str) -> None:
    # JSON numbers are IEEE doubles; JCS writes whole doubles >= 2^53 without an exponent
    value = loads_strict(text)
    assert isinstance(value, float)
    assert value == float(text)
    assert canonicalize(value) == canonicalize(float(text))


@pytest.mark.parametrize("text", ["1e400", "[-1e400]"])
def test_loads_strict_refuses_number_literals_that_overflow_to_infinity(text: str) -> None:
    with pytest.raises(EncodingError):
        loads_strict(text)


def test_loads_strict_refuses_very_deep_nesting_with_encoding_error() -> None:
    with pytest.raises(EncodingError):
        loads_strict("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(("data", "offset"), [(b"\xff", 0), (b'"ab\xc3"', 3), (b'{"a":"\xed\xa0\x80"}', 6)])
def test_loads_strict_refuses_invalid_utf8_naming_the_byte_offset(data: bytes, offset: int) -> None:
    with pytest.raises(EncodingError, match=f"not valid UTF-8 at byte {offset}$") as info:
        loads_strict(data)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a":\n  }', "line 2 column 3"),
        ("", "line 1 column 1"),
        ("[1,]", "line 1 column 4"),
        ("1 2", "line 1 column 3"),
        ('{\n\n"a" 1}', "line 3 column 5"),
        (b"\xef\xbb\xbf1", "line 1 column 1"),  # a UTF-8 byte order mark is not JSON
    ],
)
def test_loads_strict_refuses_malformed_json_naming_line_and_column(text: str | bytes, where: str) -> None:
    with pytest.raises(EncodingError, match=f"^malformed JSON: .* at {where}$") as info:
        loads_strict(text)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


# --------------------------------------------------------------------------------------------------
# parse_canonical
# --------------------------------------------------------------------------------------------------


def test_parse_canonical_accepts_canonical_bytes() -> None:
    assert parse_canonical(b'{"a":[1,0.5,"\xc3\xa9",null],"b":true}') == {
        "a": [1, 0.5, "\u00e9", None],
        "b": True,
    }
    assert parse_canonical(b"[]") == []
    assert parse_canonical(b'""') == ""


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',  # whitespace
        b' {"a":1}',
        b'{"a":1}\n',
        b'{"b":1,"a":2}',  # unsorted keys
        b'{"a":1.0}',  # 1.0 vs 1
        b"1E2",
        b"0.10",
        b"-0",
        b'"\\u00e9"',  # escaped vs raw
        b'"\\/"',
        b'"\\u001F"',  # uppercase hex escape
    ],
)
def test_parse_canonical_refuses_non_canonical_json(data: bytes) -> None:
    with pytest.raises(EncodingError, match="not in RFC 8785 canonical form"):
        parse_canonical(data)


@pytest.mark.parametrize(
    ("data", "message"), [(b'{"a":1,"a":1}', "duplicate"), (b"NaN", "NaN"), (b"\x80", "UTF-8")]
)
def test_parse_canonical_refuses_invalid_strict_json(data: bytes, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        parse_canonical(data)


def test_parse_canonical_refuses_escaped_lone_surrogates() -> None:
    with pytest.raises(EncodingError, match="not valid Unicode"):
        parse_canonical(b'"\\ud800"')


@settings(max_examples=200, deadline=None)
@given(json_values(floats=_FINITE.filter(_reads_back)))
def test_parse_canonical_round_trip(value: object) -> None:
    data = canonicalize(value)  # type: ignore[arg-type]
    parsed = parse_canonical(data)
    assert canonicalize(parsed) == data
    assert loads_strict(data) == parsed


@settings(max_examples=100, deadline=None)
@given(json_values(floats=_FINITE.filter(_reads_back)))
def test_parse_canonical_refuses_pretty_printed_containers(value: object) -> None:
    data = canonicalize(value)  # type: ignore[arg-type]
    pretty = json.dumps(json.loads(data), indent=1, ensure_ascii=False).encode("utf-8")
    if pretty != data:
        with pytest.raises(EncodingError, match="not in RFC 8785 canonical form"):
            parse_canonical(pretty)


class _Key(str):
    __slots__ = ()


def test_str_subclass_keys_and_values_are_written_as_plain_strings() -> None:
    assert (
        canonicalize({_Key("b"): [None, True, _Key("x")], "a": {"k": False}})
        == b'{"a":{"k":false},"b":[null,true,"x"]}'
    )


@pytest.mark.parametrize(
    "text",
    ['{"\\ud800": 1}', '[1, {"a": ["\\udc00"]}]', '{"ok": "\\ud83d\\ude00", "bad": ["\\ud83d"]}'],
)
def test_loads_strict_refuses_lone_surrogates_anywhere(text: str) -> None:
    with pytest.raises(EncodingError, match="lone surrogate"):
        loads_strict(text)


def test_loads_strict_accepts_surrogate_pairs_among_other_values() -> None:
    assert loads_strict('[1, null, "\\ud83d\\ude00", {"k": 2.5}]') == [1, None, "\U0001f600", {"k": 2.5}]
