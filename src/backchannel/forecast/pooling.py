"""Pool probability judgements on questions with known outcomes, and score them (ADR-0039).

Questions may have two options (yes/no) or more (GJP's "(a) ..., (b) ..., (c) ...").
A judgement is a probability vector over a question's options. Pools:

Judges are forecasters (each one's latest submission) and, optionally, models or
analysts added with :func:`add_judges`.

- ``linear``: the arithmetic mean of the judges' vectors;
- ``logodds``: the normalised geometric mean, ``p_k ∝ exp(mean_j log p_jk)``; for two
  options this is exactly the logistic of the mean log-odds;
- ``extremized``: the same with an exponent ``a``, ``p_k ∝ exp(a mean_j log p_jk)``
  (for two options, ``logistic(a * mean log-odds)``: Satopää et al. 2014; Baron et
  al. 2014). ``a`` is fitted on resolved questions by minimising the mean Brier
  score; :func:`evaluate_pools` fits it leave-one-question-out, so a question's
  pooled forecast never uses its own outcome. It also reports, labelled
  ``extremized_in_sample``, the exponent fitted on every outcome (its own
  included), to show what honest fitting costs; that one is not a forecast.

Judgements are clipped to ``[EPSILON, 1 - EPSILON]`` before logs are taken.
Scores: the Brier score as GJP defines it, ``sum_k (p_k - o_k)^2`` over all options
(0 is perfect, 2 the worst; for two options it is twice the one-sided Brier), and
the log score ``-ln p_outcome``. This module reads no files and draws no pictures
(see :mod:`backchannel.forecast.reliability`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.dataset import GjpForecast, GjpQuestion
from backchannel.forecast.ensemble import DISAGREEMENT_THRESHOLD

__all__ = [
    "EPSILON",
    "EXTREMIZING_GRID",
    "HONEST_POOLS",
    "IN_SAMPLE",
    "PROBABILITY_THRESHOLD",
    "PoolReport",
    "add_judges",
    "brier",
    "collect_judgements",
    "evaluate_pools",
    "fit_extremizing",
    "log_score",
    "pool_linear",
    "pool_logodds",
]

FloatArray = npt.NDArray[np.float64]

#: Judgements are clipped to [EPSILON, 1 - EPSILON] before taking logs.
EPSILON = 0.01
#: The name of the pool whose exponent saw every outcome, its own included: a
#: reference for what honest fitting gives up, never a forecast to trust.
IN_SAMPLE = "extremized_in_sample"
#: The pools that never saw the outcome they are scored on.
HONEST_POOLS = ("linear", "logodds", "extremized")
#: Pools more than 40 percentage points apart on an option are flagged "models disagree".
PROBABILITY_THRESHOLD = DISAGREEMENT_THRESHOLD / 100
#: The extremizing exponents searched (1 = the plain log-odds mean).
EXTREMIZING_GRID: FloatArray = np.round(np.arange(0.5, 4.0001, 0.05), 2)


def collect_judgements(
    questions: Mapping[str, GjpQuestion], forecasts: Sequence[GjpForecast]
) -> dict[str, FloatArray]:
    """Each forecaster's latest judgement per question, as rows of probability vectors.

    A submission is the set of rows sharing a ``forecast_id``. Options a submission
    leaves out share its remaining probability equally; every vector is then
    normalised to sum to 1. The latest submission (by timestamp, then file order)
    of each forecaster counts.

    Args:
        questions: The questions by id.
        forecasts: The forecast rows.

    Returns:
        ``ifp_id -> (forecasters, options)`` array, for questions with any forecast.

    Raises:
        DomainError: A submission whose probabilities sum to more than 1.05, or to 0.
    """
    submissions: dict[str, dict[str, float]] = {}
    owner: dict[str, GjpForecast] = {}
    for row in forecasts:
        submissions.setdefault(row.forecast_id, {})[row.option] = row.value
        owner.setdefault(row.forecast_id, row)
    latest: dict[tuple[str, str], str] = {}
    for forecast_id, row in owner.items():
        key = (row.ifp_id, row.user_id)
        if key not in latest or row.timestamp >= owner[latest[key]].timestamp:
            latest[key] = forecast_id
    rows: dict[str, list[FloatArray]] = {}
    for (ifp_id, _), forecast_id in latest.items():
        rows.setdefault(ifp_id, []).append(_vector(questions[ifp_id], forecast_id, submissions[forecast_id]))
    return {ifp_id: np.array(rows[ifp_id]) for ifp_id in questions if ifp_id in rows}


def _vector(question: GjpQuestion, forecast_id: str, values: Mapping[str, float]) -> FloatArray:
    """One submission as a normalised probability vector over the question's options."""
    vector = np.array([values.get(option, np.nan) for option in question.options])
    missing = np.isnan(vector)
    given = float(np.nansum(vector))
    if given > 1.05:
        raise DomainError(f"forecasts[{forecast_id}]: probabilities sum to {given:.3f} (> 1)")
    if missing.any():
        vector[missing] = max(0.0, 1.0 - given) / int(missing.sum())
    total = float(vector.sum())
    if total <= 0:
        raise DomainError(f"forecasts[{forecast_id}]: probabilities sum to 0")
    return vector / total


def pool_linear(judgements: FloatArray) -> FloatArray:
    """The linear opinion pool: the mean of the rows of ``(judges, options)``."""
    return np.asarray(judgements.mean(axis=0), dtype=np.float64)


def pool_logodds(judgements: FloatArray, extremizing: float = 1.0) -> FloatArray:
    """The (extremized) log-odds pool: ``p_k ∝ exp(a * mean_j log p_jk)``, ``a = extremizing``."""
    logs = np.log(np.clip(judgements, EPSILON, 1 - EPSILON)).mean(axis=0) * extremizing
    weights = np.exp(logs - logs.max())
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def brier(probabilities: FloatArray, outcome: int) -> float:
    """GJP's Brier score: ``sum_k (p_k - o_k)^2`` over all options (0 best, 2 worst)."""
    target = np.zeros_like(probabilities)
    target[outcome] = 1.0
    return float(((probabilities - target) ** 2).sum())


def log_score(probabilities: FloatArray, outcome: int) -> float:
    """The log score ``-ln p_outcome`` (0 best), with ``p`` clipped at :data:`EPSILON`."""
    return float(-np.log(max(float(probabilities[outcome]), EPSILON)))


def _resolved(
    questions: Mapping[str, GjpQuestion], judgements: Mapping[str, FloatArray]
) -> list[tuple[str, FloatArray, int]]:
    """The questions with an outcome and judgements, as ``(id, judgements, outcome index)``."""
    return [
        (ifp_id, rows, questions[ifp_id].options.index(outcome))
        for ifp_id, rows in judgements.items()
        if (outcome := questions[ifp_id].outcome) is not None
    ]


def fit_extremizing(resolved: Sequence[tuple[str, FloatArray, int]]) -> float:
    """The exponent in :data:`EXTREMIZING_GRID` with the lowest mean Brier score on ``resolved``.

    Raises:
        DomainError: No resolved question to fit on.
    """
    if not resolved:
        raise DomainError("extremizing: no resolved questions to fit on")
    losses = [np.mean([brier(pool_logodds(rows, a), o) for _, rows, o in resolved]) for a in EXTREMIZING_GRID]
    return float(EXTREMIZING_GRID[int(np.argmin(losses))])


@dataclass(frozen=True)
class PoolReport:
    """Pooled forecasts and scores on resolved questions.

    Attributes:
        questions: The scored question ids.
        pooled: ``method -> (questions, ...)`` pooled vectors, one per question.
        brier: ``method -> mean Brier``.
        log_score: ``method -> mean log score``.
        per_question_brier: ``method -> Brier per question``.
        extremizing: The exponent fitted on each question's complement (leave-one-question-out).
        extremizing_all: The exponent fitted on every resolved question (the in-sample pool's).
        outcomes: The outcome index per question.
        binary: How many of the scored questions have two options.
        spread: Per question, the widest gap between the honest pools on any option;
            above :data:`~backchannel.forecast.ensemble.DISAGREEMENT_THRESHOLD` / 100 (0.40)
            the question is flagged "models disagree".
    """

    questions: tuple[str, ...]
    pooled: dict[str, list[FloatArray]]
    brier: dict[str, float]
    log_score: dict[str, float]
    per_question_brier: dict[str, list[float]]
    extremizing: tuple[float, ...]
    extremizing_all: float
    outcomes: tuple[int, ...]
    binary: int
    spread: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary (the CLI's ``--json`` document)."""
        methods = {
            name: {
                "brier": self.brier[name],
                "log_score": self.log_score[name],
                "per_question_brier": dict(zip(self.questions, self.per_question_brier[name], strict=True)),
            }
            for name in self.brier
        }
        return {
            "n_questions": len(self.questions),
            "n_binary": self.binary,
            "methods": methods,
            "extremizing": {
                "fit": "leave-one-question-out, minimising mean Brier",
                "grid": [float(EXTREMIZING_GRID[0]), float(EXTREMIZING_GRID[-1]), 0.05],
                "per_question": dict(zip(self.questions, self.extremizing, strict=True)),
                "all_questions": self.extremizing_all,
            },
            "disagreement": {
                "threshold": PROBABILITY_THRESHOLD,
                "spread": dict(zip(self.questions, self.spread, strict=True)),
                "flagged": [
                    q for q, s in zip(self.questions, self.spread, strict=True) if s > PROBABILITY_THRESHOLD
                ],
            },
            "brier": "GJP: sum over options of (p - o)^2, 0 best, 2 worst",
            "epsilon": EPSILON,
        }


def add_judges(
    judgements: Mapping[str, FloatArray], extra: Mapping[str, Mapping[str, FloatArray]]
) -> dict[str, FloatArray]:
    """Append other judges (models, analysts) as extra rows: ``extra[judge][ifp_id]`` is a probability vector.

    Raises:
        DomainError: A vector of the wrong length, outside [0, 1] or not summing to 1 (within 0.01).
    """
    merged = {ifp_id: rows.copy() for ifp_id, rows in judgements.items()}
    for judge, answers in extra.items():
        for ifp_id, vector in answers.items():
            v = np.asarray(vector, dtype=np.float64)
            width = merged[ifp_id].shape[1] if ifp_id in merged else v.size
            if v.shape != (width,) or np.any(v < 0) or np.any(v > 1) or abs(float(v.sum()) - 1) > 0.01:
                raise DomainError(f"judges[{judge}][{ifp_id}]: must be {width} probabilities summing to 1")
            row = (v / v.sum())[None, :]
            merged[ifp_id] = np.vstack([merged[ifp_id], row]) if ifp_id in merged else row
    return merged


def evaluate_pools(
    questions: Mapping[str, GjpQuestion],
    forecasts: Sequence[GjpForecast],
    *,
    extra: Mapping[str, Mapping[str, FloatArray]] | None = None,
) -> PoolReport:
    """Pool every resolved question three ways and score them; the exponent is fitted leave-one-out.

    Args:
        questions: The questions by id.
        forecasts: The individual forecasts.
        extra: Other judges (models, analysts) pooled with the forecasters, see :func:`add_judges`.

    Returns:
        The report over the resolved questions that have forecasts.

    Raises:
        DomainError: Fewer than two resolved questions with forecasts, or a bad extra judgement.
    """
    judgements = collect_judgements(questions, forecasts)
    resolved = _resolved(questions, add_judges(judgements, extra) if extra else judgements)
    if len(resolved) < 2:
        raise DomainError(
            f"questions: need at least 2 resolved questions with forecasts (got {len(resolved)})"
        )
    exponents = tuple(fit_extremizing(resolved[:k] + resolved[k + 1 :]) for k in range(len(resolved)))
    in_sample = fit_extremizing(resolved)
    pooled: dict[str, list[FloatArray]] = {"linear": [], "logodds": [], "extremized": [], IN_SAMPLE: []}
    for (_, rows, _), a in zip(resolved, exponents, strict=True):
        pooled["linear"].append(pool_linear(rows))
        pooled["logodds"].append(pool_logodds(rows))
        pooled["extremized"].append(pool_logodds(rows, a))
        pooled[IN_SAMPLE].append(pool_logodds(rows, in_sample))
    outcomes = tuple(o for _, _, o in resolved)
    per_q = {m: [brier(p, o) for p, o in zip(ps, outcomes, strict=True)] for m, ps in pooled.items()}
    logs = {
        m: float(np.mean([log_score(p, o) for p, o in zip(ps, outcomes, strict=True)]))
        for m, ps in pooled.items()
    }
    return PoolReport(
        questions=tuple(q for q, _, _ in resolved),
        pooled=pooled,
        brier={m: float(np.mean(v)) for m, v in per_q.items()},
        log_score=logs,
        per_question_brier=per_q,
        extremizing=exponents,
        extremizing_all=in_sample,
        outcomes=outcomes,
        binary=sum(1 for _, rows, _ in resolved if rows.shape[1] == 2),
        spread=tuple(_pool_spread(pooled, k) for k in range(len(resolved))),
    )


def _pool_spread(pooled: Mapping[str, Sequence[FloatArray]], k: int) -> float:
    """The widest gap between the honest pools on any option of question ``k`` (probability points)."""
    stack = np.stack([pooled[name][k] for name in HONEST_POOLS])
    return float((stack.max(axis=0) - stack.min(axis=0)).max())
