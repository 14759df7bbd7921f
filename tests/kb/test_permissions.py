from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from kb import meta_changes, workflow
from kb.errors import PermissionDenied
from kb.models import Audience, RevisionState, Role, User
from kb.permissions import Action, allowed, check, in_scope
from kb.transfer.bundle import Bundle, CategoryDoc, PackageDoc, TableDoc
from kb.transfer.importer import check_bundle
from kb.users import create_user
from tests.factories import make_package, make_table

A, E, R, M = Role.AGENT, Role.EDITOR, Role.REVIEWER, Role.ADMIN

# Written out by hand (not derived from GRANTS), so that a change to the grants shows up here.
EXPECTED: dict[Action, set[Role]] = {
    Action.SEARCH: {A, E, R, M},
    Action.FLAG: {A, E, R, M},
    Action.DRAFT: {E, R, M},
    Action.SUBMIT: {E, R, M},
    Action.ROLLBACK: {E, R, M},
    Action.VIEW_QUEUES: {E, R, M},
    Action.VIEW_AUDIT: {E, R, M},
    Action.EXPORT: {E, R, M},
    Action.IMPORT: {E, R, M},
    Action.REVIEW: {R, M},
    Action.ARCHIVE: {R, M},
    Action.VERIFY: {R, M},
    Action.RESOLVE_FLAG: {R, M},
    Action.MANAGE_DICTIONARY: {R, M},
    Action.PUBLISH: {M},
    Action.MANAGE_HIERARCHY: {M},
    Action.MANAGE_USERS: {M},
    Action.SWEEP: {M},
    Action.HANDLE_REQUESTS: {A, R, M},
    Action.VIEW_HEALTH: {M},
}

PAIRS = [(role, action, role in EXPECTED[action]) for action in Action for role in Role]


def test_expected_table_covers_every_action() -> None:
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize(
    ("role", "action", "granted"),
    PAIRS,
    ids=[f"{r.value}-{a.value}-{'yes' if g else 'no'}" for r, a, g in PAIRS],
)
def test_role_action(role: Role, action: Action, granted: bool) -> None:
    user = User(name=f"u-{role.value}", role=role, scopes=[], active=True)
    assert allowed(user, action) is granted
    if not granted:
        with pytest.raises(PermissionDenied) as caught:
            check(user, action)
        roles = ", ".join(r.value for r in Role if r in EXPECTED[action])
        assert str(caught.value) == (
            f"u-{role.value} ({role.value}) may not {action.value}; allowed for: {roles}."
        )


def _scoped(role: Role, *scopes: str) -> User:
    return User(name="rv1", role=role, scopes=list(scopes), active=True)


def test_scoped_reviewer_cannot_approve_outside_scope(session: Session) -> None:
    card = make_package(session, "银行服务", "信用卡")
    returns = make_package(session, "电商售后", "退换货")
    reviewer = _scoped(Role.REVIEWER, "银行服务/信用卡")
    check(reviewer, Action.REVIEW, card)
    with pytest.raises(PermissionDenied) as caught:
        check(reviewer, Action.REVIEW, returns)
    assert str(caught.value) == (
        "rv1 (reviewer) may not review in 电商售后/退换货: their scope is 银行服务/信用卡; "
        "ask a reviewer of that package or an admin."
    )
    # Unscoped actions (search, flag, queues) are not narrowed by scope.
    assert allowed(reviewer, Action.FLAG, returns) is True
    assert allowed(reviewer, Action.VIEW_QUEUES, returns) is True


def test_category_scope_covers_its_packages(session: Session) -> None:
    card = make_package(session, "银行服务", "信用卡")
    loans = make_package(session, "银行服务", "贷款")
    returns = make_package(session, "电商售后", "退换货")
    editor = _scoped(Role.EDITOR, "银行服务")
    assert [in_scope(editor, p) for p in (card, loans, returns)] == [True, True, False]
    assert [allowed(editor, Action.DRAFT, p) for p in (card, loans, returns)] == [True, True, False]


def test_empty_scope_means_everywhere_and_admin_ignores_scopes(session: Session) -> None:
    returns = make_package(session, "电商售后", "退换货")
    assert allowed(_scoped(Role.REVIEWER), Action.REVIEW, returns) is True
    assert allowed(_scoped(Role.ADMIN, "银行服务"), Action.REVIEW, returns) is True


def test_deactivated_user_may_do_nothing() -> None:
    user = User(name="gone", role=Role.ADMIN, scopes=[], active=False)
    with pytest.raises(PermissionDenied, match="User gone is deactivated"):
        check(user, Action.SEARCH)


# ── the same rights through every way of changing knowledge (issue 11) ──────────────────────

IMPORTS: dict[str, set[Role]] = {
    "draft import of a table": {E, R, M},
    "published import of a table": {M},
    "import creating a category": {M},
    "import changing a template": {M},
    "import replacing the dictionary": {R, M},
}


def _bundle(what: str) -> Bundle:
    template: list[dict[str, object]] = [{"key": "answer", "label": "标准答复", "required": True}]
    table = TableDoc("TX-NEW-1", "新表", fields={"answer": "答复"})
    if what == "import changing a template":
        template = [{"key": "answer", "label": "给客户的答复", "required": True}]
    category = "新类" if what == "import creating a category" else "通信业务"
    bundle = Bundle(
        categories=[CategoryDoc(category)],
        packages=[PackageDoc(category, "改号业务", template=template, tables=[table])],
    )
    if what == "import replacing the dictionary":
        bundle.dictionary_given, bundle.synonyms, bundle.terms = True, [["甲", "乙"]], []
    return bundle


@pytest.mark.parametrize("role", list(Role))
def test_import_role_by_action(session: Session, role: Role) -> None:
    make_package(session, template=[{"key": "answer", "label": "标准答复", "required": True}])
    user = User(name=f"u-{role.value}", role=role, scopes=[], active=True)
    granted = {
        what
        for what in IMPORTS
        if check_bundle(
            session,
            _bundle(what),
            actor=user,
            draft=what != "published import of a table",
        )
        == []
    }
    assert granted == {what for what, roles in IMPORTS.items() if role in roles}


def test_scoped_import_stays_in_scope(session: Session) -> None:
    make_package(session, template=[{"key": "answer", "label": "标准答复", "required": True}])
    inside = User(name="e1", role=Role.EDITOR, scopes=["通信业务/改号业务"], active=True)
    outside = User(name="e2", role=Role.EDITOR, scopes=["银行服务"], active=True)
    assert check_bundle(session, _bundle("draft import of a table"), actor=inside, draft=True) == []
    [refusal] = check_bundle(session, _bundle("draft import of a table"), actor=outside, draft=True)
    assert refusal.message == (
        "table TX-NEW-1: e2 (editor) may not draft in 通信业务/改号业务: their scope is 银行服务; "
        "ask a editor of that package or an admin."
    )


# Changing audience or validity: at once, as a proposal on the draft, or refused.
PATCH_OUTCOME = {A: "refused", E: "proposed", R: "proposed", M: "at once"}


@pytest.mark.parametrize("role", list(Role))
def test_patch_of_audience_role_by_action(session: Session, role: Role) -> None:
    table = make_table(session, audience=Audience.INTERNAL)
    user = create_user(session, f"u-{role.value}", role)
    try:
        result = meta_changes.change_meta(
            session, user, table.code, meta_changes.MetaChange(audience=Audience.PUBLIC)
        )
    except PermissionDenied:
        outcome = "refused"
    else:
        outcome = "proposed" if result.proposed is not None else "at once"
    assert outcome == PATCH_OUTCOME[role]
    assert table.audience is (Audience.PUBLIC if outcome == "at once" else Audience.INTERNAL)


def test_no_writer_of_a_revision_approves_it(session: Session) -> None:
    """Its author ("they wrote it") and whoever edited it ("they edited it") are refused."""
    make_package(session)
    author = create_user(session, "reviewer1", R)
    admin = create_user(session, "admin1", M)
    other = create_user(session, "reviewer2", R)
    table = make_table(session, code="TX-NEW-2", state=RevisionState.DRAFT, actor="reviewer1")
    workflow.edit(session, admin, table.code, workflow.Edit(title="改过的标题"))
    workflow.submit(session, author, table.code)
    for writer, how in ((author, "they wrote it"), (admin, "they edited it")):
        with pytest.raises(PermissionDenied, match=how):
            workflow.approve(session, writer, table.code)
    assert workflow.approve(session, other, table.code).number == 1
