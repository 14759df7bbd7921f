"""The synonym dictionary's checks: terms compared as the analyzer reads them."""

from __future__ import annotations

from kb.dictionary import check_synonyms


def test_a_term_claimed_twice_in_any_written_form_is_refused() -> None:
    """改號 is 改号 to the analyzer: accepted, the later group silently took it from the first."""
    groups, problems = check_synonyms([["换号", "改号", "更换号码"], ["改號", "号码变更"]])
    assert [(p.field, p.value, p.message) for p in problems] == [
        ("synonyms[1]", "改號", "term '改號' is already in synonyms[0] (as '改号')")
    ]
    assert groups[0] == ["换号", "改号", "更换号码"]


def test_forms_of_one_term_in_a_group_count_once_in_their_order() -> None:
    groups, problems = check_synonyms([["WiFi", "无线网", "wifi", "Wi-Fi"]])
    assert (groups, problems) == ([["WiFi", "无线网", "Wi-Fi"]], [])
    groups, problems = check_synonyms([["改号", "改號"]])
    assert groups == [] and problems[0].message.startswith("a synonym group needs at least two")


def test_a_mixed_term_is_compared_in_its_normalized_form_too() -> None:
    """The analyzer reads U盾 whole now, as ｕ盾 or Ｕ盾: two groups cannot both claim it."""
    groups, problems = check_synonyms(
        [["网银盾", "U盾"], ["Ｕ盾", "USB盾"], ["银行App", "银行APP"]]
    )
    assert [(p.field, p.value, p.message) for p in problems] == [
        ("synonyms[1]", "Ｕ盾", "term 'Ｕ盾' is already in synonyms[0] (as 'u盾')"),
        (
            "synonyms[2]",
            ["银行App", "银行APP"],
            "a synonym group needs at least two different terms",
        ),
    ]
    assert groups == [["网银盾", "U盾"], ["Ｕ盾", "USB盾"]]
