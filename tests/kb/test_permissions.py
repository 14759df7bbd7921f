from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from kb.errors import PermissionDenied
from kb.models import Role, User
from kb.permissions import Action, allowed, check, in_scope
from tests.factories import make_package

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
