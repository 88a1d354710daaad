"""The codec layer: field codecs, the one strict reader, formats and schemas derived from dataclasses."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import pytest

from backchannel.domain.codec import (
    LOG,
    LOG_STYLE,
    At,
    Body,
    Checked,
    Choice,
    Format,
    Hex32,
    Integer,
    Items,
    LowerHex,
    Number,
    Optional,
    Reader,
    Schema,
    Style,
    Text,
    Time,
    build,
    json_type,
)
from backchannel.domain.ids import MemberId, check_member_id
from backchannel.errors import EncodingError

PATHS = Style("an array", json_type, json_type, paths=True)  # the wire's wording
LOGGED = At("thing", LOG_STYLE)
WIRED = At("body", PATHS)


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Point:
    x: Annotated[int, Integer(0)]
    y: int


@dataclass(frozen=True)
class Shape:
    name: Annotated[str, Text(10)]
    owner: MemberId
    colour: Colour
    corners: tuple[Point, ...]
    note: Annotated[str, Text(20)] | None
    scale: float
    seen: datetime
    derived: int = field(init=False, default=0)


SHAPE = Shape("box", "iran/lead", Colour.RED, (Point(0, 1),), None, 1.5, datetime(2026, 3, 1, tzinfo=UTC))
SHAPE_JSON = {
    "name": "box",
    "owner": "iran/lead",
    "colour": "red",
    "corners": [{"x": 0, "y": 1}],
    "note": None,
    "scale": 1.5,
    "seen": "2026-03-01T00:00:00.000000Z",
}


def test_json_type_names_parsed_values() -> None:
    assert [json_type(v) for v in (None, True, 1, 1.5, "s", {}, [])] == [
        "null",
        "a boolean",
        "an integer",
        "a number",
        "a string",
        "an object",
        "an array",
    ]


def test_a_schema_is_derived_from_the_dataclass_fields() -> None:
    schema = LOG.schema(Shape)
    assert schema is LOG.schema(Shape)  # built once
    assert schema.names == set(SHAPE_JSON)  # init=False fields are not part of the form
    assert schema.to_dict(SHAPE) == SHAPE_JSON
    assert build(Shape, schema.read(schema.reader(SHAPE_JSON, LOGGED))) == SHAPE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "thing.name: expected text of 1 to 10 characters, got ''"),
        ({"owner": "x"}, "thing.owner: 'x' does not match"),
        ({"colour": "green"}, "thing.colour: expected one of red, blue, got 'green'"),
        ({"corners": {}}, "thing.corners: expected a list, got {}"),
        ({"corners": [{"x": -1, "y": 0}]}, "thing.corners.0.x: expected an integer >= 0, got -1"),
        ({"corners": [{"x": 0}]}, r"thing.corners.0: missing field\(s\) \['y'\]"),
        ({"note": 3}, "thing.note: expected text of 1 to 20 characters, got 3"),
        ({"scale": True}, "thing.scale: expected a number, got True"),
        ({"seen": "2026-02-30T00:00:00.000000Z"}, "thing.seen: expected a valid date and time"),
        ({"seen": "2026-02-01"}, "thing.seen: expected a UTC time like"),
        ({"extra": 1}, r"thing: unknown field\(s\) \['extra'\]"),
    ],
)
def test_the_reader_names_the_field_path_in_every_error(change, message) -> None:
    schema = LOG.schema(Shape)
    with pytest.raises(EncodingError, match=message):
        schema.read(schema.reader({**SHAPE_JSON, **change}, LOGGED))


def test_the_wire_style_names_json_types_and_paths() -> None:
    with pytest.raises(EncodingError, match=re.escape("body: expected a JSON object, got an array")):
        Reader([], {"a"}, WIRED)
    with pytest.raises(EncodingError, match=re.escape("signed command: expected a JSON object, got null")):
        Reader(None, {"a"}, At("", PATHS), "signed command")
    unknown = re.escape("body: unknown field(s) body.x, body.y (the object is closed)")
    with pytest.raises(EncodingError, match=unknown):
        Reader({"a": 1, "x": 1, "y": 2}, {"a"}, WIRED)
    with pytest.raises(EncodingError, match=re.escape("body: missing field(s) body.a")):
        Reader({}, {"a"}, WIRED)
    reader = Reader({"a": 1}, {"a"}, WIRED)
    assert str(reader.at("a")) == "body.a"
    assert reader.raw("a") == 1
    with pytest.raises(EncodingError, match=re.escape("body.a: expected a string, got an integer")):
        reader.read("a", Text())


def test_wire_codecs_check_json_types_only() -> None:
    assert Text().decode("", WIRED / "t") == ""
    assert Integer().decode(-5, WIRED / "i") == -5
    with pytest.raises(EncodingError, match=re.escape("body.i: expected an integer, got a boolean")):
        Integer().decode(True, WIRED / "i")
    member = Checked(check_member_id, Text())
    with pytest.raises(EncodingError, match=re.escape("body.m: expected a string, got an integer")):
        member.decode(7, WIRED / "m")
    with pytest.raises(EncodingError, match="body.m: 'x' does not match"):
        member.decode("x", WIRED / "m")
    lenient = Choice(Colour, strict=False)
    assert lenient.decode("blue", WIRED / "c") is Colour.BLUE
    assert lenient.decode("green", WIRED / "c") == "green"  # the command refuses it, naming the field
    with pytest.raises(EncodingError, match=re.escape("body.c: expected a string, got an integer")):
        lenient.decode(1, WIRED / "c")
    assert Body(frozen=False).decode({"a": [1]}, WIRED) == {"a": [1]}
    with pytest.raises(EncodingError, match=re.escape("body: expected a JSON object, got a string")):
        Body(frozen=False).decode("x", WIRED)


def test_digests_and_hex() -> None:
    digest = bytes(range(32))
    assert Hex32().decode(Hex32().encode(digest), WIRED) == digest
    with pytest.raises(EncodingError, match=re.escape("body: expected 64 lowercase hex digits, got 'AB'")):
        Hex32().decode("AB", WIRED)
    with pytest.raises(EncodingError, match=re.escape("body: expected 64 lowercase hex digits, got null")):
        Hex32().decode(None, WIRED)
    salt = LowerHex(re.compile(r"(?:[0-9a-f]{2})*"))
    assert salt.encode(b"\x01\xff") == "01ff"
    assert salt.decode("01ff", WIRED) == b"\x01\xff"
    with pytest.raises(EncodingError, match=re.escape("body: expected bytes as lowercase hex")):
        salt.decode("0", WIRED)
    hexes = Items(Hex32(), whole="a list of 64-hex-digit values")
    with pytest.raises(EncodingError, match="thing: expected a list of 64-hex-digit values"):
        hexes.decode([digest.hex(), "00"], LOGGED)


def test_bodies_are_frozen_in_the_log() -> None:
    body = Body().decode({"a": [1, {"b": 2}]}, LOGGED)
    assert body == {"a": (1, {"b": 2})}
    assert Body().encode(body) == {"a": [1, {"b": 2}]}
    with pytest.raises(EncodingError, match="thing.a: inf is not a JSON number"):
        Body().decode({"a": float("inf")}, LOGGED)
    with pytest.raises(EncodingError, match="thing: expected a JSON object"):
        Body().decode([1], LOGGED)


def test_a_format_derives_from_another_and_refuses_types_without_a_codec() -> None:
    wire = LOG.derive(PATHS, {int: Integer()}, lambda kind: Choice(kind, strict=False))
    assert wire.codec(int) == Integer()
    assert wire.codec(float) == Number()  # the log's
    assert wire.codec(Colour) == Choice(Colour, strict=False)
    assert wire.codec(int | None) == Optional(Integer())
    assert wire.codec(datetime) == Time()
    with pytest.raises(TypeError, match="no codec for <class 'complex'>"):
        wire.codec(complex)
    with pytest.raises(TypeError, match="Colour is not a dataclass"):
        Schema(Colour, wire)
    bare = Format(PATHS, {})
    bare.register(int, Integer(1))
    assert bare.codec(Annotated[int, "a note, not a codec"]) == Integer(1)
    assert Schema(Point, bare, skip={"y"}).names == {"x"}
