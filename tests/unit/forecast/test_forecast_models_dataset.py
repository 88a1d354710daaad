"""The strict loaders: the shared files load; every malformed value is refused by file, row and column."""

from pathlib import Path

import numpy as np
import pytest
from forecast_models_data import DEU_POSITIONS, GJP_FORECASTS, GJP_QUESTIONS, shared_deu

from backchannel.errors import EncodingError, NotFoundError
from backchannel.forecast.dataset import IssueSet, load_deu, load_gjp_forecasts, load_gjp_questions

WIDE = "isnr,proc,pcom,pde,scom,sde,rp,out\n"
LONG = "isnr,actor,actor_name,position,salience\n"


@pytest.fixture(scope="module")
def deu() -> IssueSet:
    return shared_deu()


def write(tmp_path: Path, wide: str, long: str) -> tuple[Path, Path]:
    (tmp_path / "w.csv").write_text(wide)
    (tmp_path / "l.csv").write_text(long)
    return tmp_path / "w.csv", tmp_path / "l.csv"


def test_the_shared_deu_file_loads(deu: IssueSet) -> None:
    assert deu.positions.shape == (173, 17)
    assert deu.actors[:2] == ("com", "ep")
    assert deu.issue_ids[0] == "d00032i1"
    assert np.isnan(deu.outcome).sum() == 1
    assert deu.commission[0] == 100
    assert set(deu.procedure) == {"COD", "CNS"}


def test_a_small_deu_pair_loads_and_selects(tmp_path: Path) -> None:
    w, lp = write(
        tmp_path,
        WIDE + "i1,COD,10,90,50,40,,30\ni2,CNS,,20,,70,0,\n",
        LONG + "i1,com,Commission,10,50\ni1,de,Germany,90,40\ni2,de,Germany,20,70\n",
    )
    issues = load_deu(w, lp)
    assert issues.actors == ("com", "de")
    assert np.isnan(issues.positions[1, 0])
    assert np.isnan(issues.reference[0])
    assert issues.reference[1] == 0
    one = issues.select(np.array([False, True]))
    assert one.issue_ids == ("i2",)
    assert one.procedure == ("CNS",)
    assert np.isnan(one.commission[0])


@pytest.mark.parametrize(
    ("wide", "long", "message"),
    [
        (
            WIDE + "i1,COD,10,90,50,40,,x\n",
            LONG + "i1,com,C,10,50\ni1,de,G,90,40\n",
            "row 2, column out: not a number",
        ),
        (
            WIDE + "i1,COD,10,90,50,40,,130\n",
            LONG + "i1,com,C,10,50\ni1,de,G,90,40\n",
            "column out: must be in [0, 100]",
        ),
        (
            WIDE + "i1,COD,10,90,50,40,,3\n",
            LONG + "i1,com,C,10,50\ni9,de,G,90,40\n",
            "row 3, column isnr: unknown issue",
        ),
        (
            WIDE + "i1,COD,10,90,50,40,,3\n",
            LONG + "i1,com,C,10,50\ni1,com,C,10,50\n",
            "row 3: duplicate actor",
        ),
        (
            WIDE + "i1,COD,10,90,50,40,,3\n",
            LONG + "i1,com,C,10,50\ni1,de,G,80,40\n",
            "row 2, column pde: '90' disagrees",
        ),
        (WIDE + "i1,COD,10,90,50,40,,3\n", LONG + "i1,com,C,,50\n", "row 2, column position: empty"),
        (WIDE + "i1,COD,10,90,50,40,,3\n", LONG + "i1,,C,1,50\n", "column actor: empty actor"),
        (WIDE + "i1,COD,10,90,50,40,,3\ni1,COD,1,1,1,1,,1\n", LONG, "row 3, column isnr: duplicate issue"),
        (WIDE + ",COD,10,90,50,40,,3\n", LONG, "column isnr: empty issue id"),
        (WIDE, LONG, "no issues"),
        ("isnr,out\ni1,3\n", LONG, "row 1: missing column(s) rp"),
        (WIDE + "i1,COD,10\n", LONG, "row 2: expected 8 fields"),
    ],
)
def test_bad_deu_input_names_file_row_and_column(tmp_path: Path, wide: str, long: str, message: str) -> None:
    w, lp = write(tmp_path, wide, long)
    with pytest.raises(
        EncodingError,
        match=r"\.csv: .*" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\["),
    ):
        load_deu(w, lp)


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        load_deu(tmp_path / "nope.csv", DEU_POSITIONS)


def test_the_shared_gjp_files_load() -> None:
    questions = load_gjp_questions(GJP_QUESTIONS)
    assert len(questions) == 18
    q = questions["1007-0"]
    assert q.options == ("a", "b", "c")
    assert not q.is_binary
    assert q.labels[2] == "No"
    assert q.outcome == "b"
    assert questions["1001-0"].labels == ("Yes", "No")
    assert questions["1001-0"].is_binary
    forecasts = load_gjp_forecasts(GJP_FORECASTS, questions)
    assert len(forecasts) == 9999
    assert all(0 <= f.value <= 1 for f in forecasts)


QHEAD = "ifp_id,short_title,q_text,q_type,n_opts,options,date_start,date_closed,outcome\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('q1,t,x,0,2,"(a) Yes, (b) No",1/1/11,1/2/11,c\n', "row 2, column outcome: 'c' is not one of a, b"),
        ('q1,t,x,0,3,"(a) Yes, (b) No",1/1/11,1/2/11,a\n', "row 2, column options: expected options a, b, c"),
        ('q1,t,x,0,two,"(a) Yes, (b) No",1/1/11,1/2/11,a\n', "row 2, column n_opts: not an integer"),
        ('q1,t,x,0,1,"(a) Yes",1/1/11,1/2/11,a\n', r"row 2, column n_opts: must be in \[2, 26\]"),
        (
            'q1,t,x,0,2,"(a) Yes, (b) No",1/1/11,1/2/11,a\nq1,t,x,0,2,"(a) Y, (b) N",1,1,a\n',
            "row 3, column ifp_id",
        ),
    ],
)
def test_bad_gjp_questions_name_row_and_column(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "q.csv"
    path.write_text(QHEAD + row)
    with pytest.raises(EncodingError, match=message):
        load_gjp_questions(path)


FHEAD = "ifp_id,user_id,forecast_id,fcast_type,answer_option,value,timestamp,cond,training,team,expertise\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("q9,1,-1,0,a,0.5,2011-09-01 00:00:00,1,a,,1\n", "row 2, column ifp_id: unknown question 'q9'"),
        (
            "q1,1,-1,0,c,0.5,2011-09-01 00:00:00,1,a,,1\n",
            "row 2, column answer_option: 'c' is not an option of q1",
        ),
        ("q1,1,-1,0,a,1.5,2011-09-01 00:00:00,1,a,,1\n", r"row 2, column value: must be in \[0, 1\]"),
        ("q1,1,-1,0,a,,2011-09-01 00:00:00,1,a,,1\n", "row 2, column value: empty"),
        ("q1,1,-1,0,a,nan,2011-09-01 00:00:00,1,a,,1\n", "row 2, column value: must be in"),
        ("", "no forecasts"),
    ],
)
def test_bad_gjp_forecasts_name_row_and_column(tmp_path: Path, row: str, message: str) -> None:
    qpath, fpath = tmp_path / "q.csv", tmp_path / "f.csv"
    qpath.write_text(QHEAD + 'q1,t,x,0,2,"(a) Yes, (b) No",1/1/11,1/2/11,\n')
    fpath.write_text(FHEAD + row)
    questions = load_gjp_questions(qpath)
    assert questions["q1"].outcome is None
    with pytest.raises(EncodingError, match=message):
        load_gjp_forecasts(fpath, questions)
