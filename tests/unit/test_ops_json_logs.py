"""JSON log lines (``serve --log-format json``): one object per line, request fields where present."""

import io
import json
import logging
import sys

from backchannel.service.logs import JsonFormatter, configure_json_logs


def record(name: str, message: str, args: object = None, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)  # type: ignore[arg-type]
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_plain_record_has_the_four_fields() -> None:
    line = JsonFormatter().format(
        record("backchannel.api.app", "the periodic work recovered after %d failures", (3,))
    )
    document = json.loads(line)
    assert set(document) == {"time", "level", "logger", "message"}
    assert document["message"] == "the periodic work recovered after 3 failures"
    assert document["level"] == "info"
    assert document["logger"] == "backchannel.api.app"
    assert document["time"].endswith("+00:00")
    assert "\n" not in line


def test_an_access_record_gives_the_request_fields() -> None:
    access = record(
        "uvicorn.access", '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", "/v1/tracks?x=1", "1.1", 401)
    )
    document = json.loads(JsonFormatter().format(access))
    assert document["client"] == "127.0.0.1:5000"
    assert document["method"] == "GET"
    assert document["path"] == "/v1/tracks?x=1"
    assert document["status"] == 401
    assert document["message"] == '127.0.0.1:5000 - "GET /v1/tracks?x=1 HTTP/1.1" 401'


def test_request_fields_given_as_extra_are_kept() -> None:
    document = json.loads(
        JsonFormatter().format(record("x", "refused", request={"track": "doha", "status": 429}))
    )
    assert document["track"] == "doha"
    assert document["status"] == 429


def test_an_exception_is_one_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    document = json.loads(JsonFormatter().format(failed))
    assert document["level"] == "error"
    assert "ValueError: boom" in document["exception"]


def test_configure_sends_every_logger_to_the_stream() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        handler = configure_json_logs(logging.INFO, stream)
        logging.getLogger("uvicorn.error").warning("listening")
        logging.getLogger("backchannel.test").info("hello %s", "world")
        logging.getLogger("backchannel.test").debug("not shown")
    finally:
        root.removeHandler(handler)
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(d["logger"], d["message"]) for d in lines] == [
        ("uvicorn.error", "listening"),
        ("backchannel.test", "hello world"),
    ]
