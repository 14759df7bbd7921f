from __future__ import annotations

import pytest

from kb import hierarchy
from kb.errors import Conflict, NotFound, ValidationFailed
from tests.factories import TEMPLATE, make_package


def test_template_change_makes_a_new_version(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session)
    assert package.template.version == 1
    same = make_package(session)
    assert same.id == package.id and len(package.templates) == 1
    changed = [*TEMPLATE, {"key": "scope", "label": "适用范围"}]
    make_package(session, template=changed)
    assert [t.version for t in package.templates] == [1, 2]
    assert [f["key"] for f in package.template.fields][-1] == "scope"


def test_find_package_by_path_and_ambiguity(session) -> None:  # type: ignore[no-untyped-def]
    make_package(session, category="通信业务", name="常见问题")
    make_package(session, category="银行服务", name="常见问题")
    assert hierarchy.find_package(session, "银行服务/常见问题").category.name == "银行服务"
    with pytest.raises(Conflict, match="ambiguous"):
        hierarchy.find_package(session, "常见问题")
    with pytest.raises(NotFound, match="known packages: 常见问题"):
        hierarchy.find_package(session, "通信业务/宽带")


def test_names_and_interval_are_checked(session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed, match="without '/'"):
        hierarchy.ensure_category(session, "a/b")
    with pytest.raises(ValidationFailed, match="review_interval_days"):
        make_package(session, review_interval_days=-1)
