"""Match lines on the customer portal follow the script of the question."""

from __future__ import annotations

from types import SimpleNamespace

from api import views
from kb.portal import Match

TRADITIONAL = Match(
    field="questions",
    label="相似问法",
    text="改號後舊號碼還會扣費嗎",
    html="<mark>改號</mark>後舊號碼還會扣費嗎 &amp; 其他",
)


def test_a_simplified_question_gets_a_simplified_match_line() -> None:
    shown = views.in_script_of("改号后旧号码还扣钱吗", TRADITIONAL)
    assert shown == Match(
        field="questions",
        label="相似问法",
        text="改号后旧号码还会扣费吗",
        html="<mark>改号</mark>后旧号码还会扣费吗 &amp; 其他",
    )


def test_a_traditional_question_gets_a_traditional_match_line() -> None:
    simplified = Match(
        "questions", "相似问法", "换号以后旧号还扣钱吗", "<mark>换号</mark>以后旧号还扣钱吗"
    )
    shown = views.in_script_of("換號以後舊號還扣錢嗎", simplified)
    assert shown is not None
    assert (shown.text, shown.html) == ("換號以後舊號還扣錢嗎", "<mark>換號</mark>以後舊號還扣錢嗎")


def test_script_neutral_questions_count_as_simplified() -> None:
    shown = views.in_script_of("5G 套餐", TRADITIONAL)
    assert shown is not None and shown.text == "改号后旧号码还会扣费吗"
    assert views.in_script_of("5G", None) is None


def test_customer_match_of_converts_what_the_search_matched() -> None:
    matched = SimpleNamespace(key="questions", label="相似问法", snippet="改號後", spans=[(0, 2)])
    match = views.customer_match_of("改号后")(SimpleNamespace(matched=matched))
    assert match is not None and (match.text, match.html) == ("改号后", "<mark>改号</mark>后")
