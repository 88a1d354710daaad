"""The refusal reason of a response that is not problem+json, and a scraper whose address is not an IP."""

from starlette.responses import JSONResponse, Response

from backchannel.api.errors import PROBLEM_BASE
from backchannel.api.metrics import _reason


def test_a_problem_gives_its_slug_and_anything_else_is_other() -> None:
    assert _reason(JSONResponse({"type": PROBLEM_BASE + "rate-limited"}, status_code=429)) == "rate-limited"
    assert _reason(JSONResponse({"type": "about:blank"}, status_code=400)) == "other"
    assert _reason(JSONResponse({"detail": "no type"}, status_code=500)) == "other"
    assert _reason(Response(b"plain text, not JSON", status_code=500)) == "other"
    assert _reason(JSONResponse(["a", "list"], status_code=500)) == "other"
