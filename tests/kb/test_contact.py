from __future__ import annotations

import pytest

from kb.contact import Contact, check_contact, masked


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits from a Chinese IME
        ("010-12345678", "01012345678"),
        ("(0755) 8765 4321", "075587654321"),
        ("+852 6123 4567", "+85261234567"),
    ],
)
def test_phone_numbers_are_normalized(raw: str, stored: str) -> None:
    contact, problems = check_contact(phone=raw)
    assert (contact.phone, problems) == (stored, [])


@pytest.mark.parametrize("raw", ["12345", "23812345678", "138123456789", "call me", "+0123456"])
def test_bad_phone_numbers_are_refused_with_the_accepted_forms(raw: str) -> None:
    contact, [problem] = check_contact(phone=raw)
    assert contact.phone == ""
    assert (problem.field, problem.value) == ("contact_phone", raw)
    assert "13812345678" in problem.message and "010-12345678" in problem.message


def test_email_wechat_and_name() -> None:
    contact, problems = check_contact(
        name=" 王先生 ", email="Wang.Li@Example.COM", wechat="wang_li-88"
    )
    assert problems == []
    assert contact == Contact(name="王先生", email="wang.li@example.com", wechat="wang_li-88")
    # A WeChat account is often found by the mobile number bound to it.
    assert check_contact(wechat="138 1234 5678")[0].wechat == "13812345678"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "wang@"}, "contact_email"),
        ({"email": "a" * 250 + "@x.cn"}, "contact_email"),
        ({"wechat": "1abcdef"}, "contact_wechat"),
        ({"wechat": "abc"}, "contact_wechat"),
        ({"name": "王" * 51}, "contact_name"),
        ({"name": "王\x00先生"}, "contact_name"),
    ],
)
def test_bad_details_name_their_field(kwargs: dict[str, str], field: str) -> None:
    _, problems = check_contact(**kwargs)
    assert [p.field for p in problems] == [field]


def test_every_problem_is_reported_at_once() -> None:
    _, problems = check_contact(phone="1", email="x", wechat="?")
    assert [p.field for p in problems] == ["contact_phone", "contact_email", "contact_wechat"]


def test_nothing_given_is_fine() -> None:
    contact, problems = check_contact()
    assert problems == [] and contact.is_empty()


def test_masked_shows_enough_to_recognise() -> None:
    shown = masked(
        Contact(name="王小明", phone="13812345678", email="wangxm@example.com", wechat="wang_li88")
    )
    assert shown == Contact(
        name="王***", phone="138****5678", email="w*****@example.com", wechat="wa*****88"
    )
    assert masked(Contact()) == Contact()
