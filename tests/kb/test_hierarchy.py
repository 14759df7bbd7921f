from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import changes, hierarchy, permissions, renaming, repository, users
from kb.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kb.models import FieldTemplate, User
from kb.users import create_user
from tests.factories import TEMPLATE, make_package, make_table


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


def test_only_empty_packages_and_categories_can_be_deleted(session: Session) -> None:
    full = make_package(session, category="通信业务", name="改号业务")
    for i in range(5):
        make_table(session, full, code=f"TX-GH-00{i}", title=f"问题{i}")
    empty = make_package(session, category="通信业务", name="空包")
    with pytest.raises(Conflict) as caught:
        hierarchy.delete_package(session, full, actor="admin1")
    assert str(caught.value) == (
        "Package 通信业务/改号业务 still holds 5 table(s) (TX-GH-000, TX-GH-001, TX-GH-002 and "
        "2 more); only an empty package can be deleted. Move its tables to another package "
        "first (archived tables count too: their history stays with them)."
    )
    category = hierarchy.get_category(session, "通信业务")
    with pytest.raises(Conflict, match="still has 2 package\\(s\\) \\(改号业务, 空包\\)"):
        hierarchy.delete_category(session, category, actor="admin1")

    hierarchy.delete_package(session, empty, actor="admin1")
    assert [p.name for p in category.packages] == ["改号业务"]
    assert session.scalars(select(FieldTemplate)).all() == list(full.templates)
    entry = repository.audit_for(session, "package", "通信业务/空包")[-1]
    assert (entry.actor, entry.action) == ("admin1", "delete")

    lone = hierarchy.ensure_category(session, "空大类")
    hierarchy.delete_category(session, lone, actor="admin1")
    assert repository.category_by_name(session, "空大类") is None
    assert repository.audit_for(session, "category", "空大类")[-1].action == "delete"


def test_a_package_someone_is_scoped_to_is_not_deleted(session: Session) -> None:
    package = make_package(session, category="银行服务", name="信用卡")
    create_user(session, "rv1", "reviewer", ["银行服务/信用卡"])
    with pytest.raises(Conflict, match="scope of user\\(s\\) rv1; change their scopes"):
        hierarchy.delete_package(session, package, actor="admin1")
    lone = hierarchy.ensure_category(session, "空大类")
    create_user(session, "rv2", "editor", ["空大类"])
    with pytest.raises(Conflict, match="Category 空大类 is the scope of user\\(s\\) rv2"):
        hierarchy.delete_category(session, lone, actor="admin1")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (".hidden", "starts with '.' or '_'"),
        ("_skipped", "starts with '.' or '_'"),
        ("a\x00b", "contains control or invisible characters (U+0000)"),
        ("a\x07b", "contains control or invisible characters (U+0007)"),
        ("右\u202e左", "contains control or invisible characters (U+202E)"),
        ("a\\b", "contains '/' or '\\'"),
        ("中" * 81, "is longer than 240 bytes in UTF-8"),
    ],
)
def test_names_unusable_as_files_or_scopes_are_refused(session, name: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as caught:
        hierarchy.ensure_category(session, name)
    assert caught.value.problems[0].field == "category"
    assert reason in caught.value.message
    category = hierarchy.ensure_category(session, "通信业务")
    with pytest.raises(ValidationFailed) as caught:
        hierarchy.ensure_package(session, category, name, template=TEMPLATE)
    assert caught.value.problems[0].field == "package"


def _user(session, name: str, role: str, scopes: list[str] | None = None) -> User:  # type: ignore[no-untyped-def]
    return users.create_user(session, name, role, scopes=scopes or [])


def test_rename_category_carries_scopes_and_is_audited(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session, "银行", "信用卡")
    make_package(session, "通信业务", "改号业务")
    table = make_table(session, package, code="YH-1")
    admin = _user(session, "admin1", "admin")
    editor = _user(session, "editor1", "editor", ["银行/信用卡", "通信业务"])
    reviewer = _user(session, "reviewer1", "reviewer", ["银行"])
    changes.pop(session)
    with pytest.raises(PermissionDenied):
        renaming.rename_category(session, reviewer, "银行", "银行服务")
    with pytest.raises(Conflict, match="already exists"):
        renaming.rename_category(session, admin, "银行", "通信业务")
    with pytest.raises(ValidationFailed, match="starts with"):
        renaming.rename_category(session, admin, "银行", ".银行")
    renaming.rename_category(session, admin, "银行", "银行服务")
    assert hierarchy.package_path(package) == "银行服务/信用卡"
    assert (editor.scopes, reviewer.scopes) == (["银行服务/信用卡", "通信业务"], ["银行服务"])
    assert changes.pop(session) == {table.id}  # re-indexed under its new path
    [entry] = repository.audit_for(session, "category", "银行服务")
    assert (entry.actor, entry.action, entry.detail) == (
        "admin1",
        "rename",
        {"from": "银行", "to": "银行服务", "scopes_of": ["editor1", "reviewer1"]},
    )
    # A new category that takes the old name does not inherit the scopes.
    hierarchy.ensure_category(session, "银行")
    assert permissions.in_scope(reviewer, make_package(session, "银行", "贷款")) is False


def test_rename_package(session) -> None:  # type: ignore[no-untyped-def]
    make_package(session, "银行服务", "信用卡业务")
    admin = _user(session, "admin1", "admin")
    editor = _user(session, "editor1", "editor", ["银行服务/信用卡业务"])
    package = renaming.rename_package(session, admin, "银行服务/信用卡业务", "信用卡")
    assert hierarchy.package_path(package) == "银行服务/信用卡"
    assert editor.scopes == ["银行服务/信用卡"]
    [entry] = repository.audit_for(session, "package", "银行服务/信用卡")
    assert entry.detail["from"] == "银行服务/信用卡业务"
    with pytest.raises(PermissionDenied):
        renaming.rename_package(session, editor, "银行服务/信用卡", "卡")
