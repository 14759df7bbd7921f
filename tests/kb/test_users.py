from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import repository, users
from kb.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from kb.models import ApiToken, Role
from tests.factories import make_package


def test_create_and_list_users(session: Session) -> None:
    make_package(session, "银行服务", "信用卡")
    users.create_user(session, "reviewer1", "reviewer", ["银行服务/信用卡"], actor="admin")
    users.create_user(session, "agent1", Role.AGENT)
    listed = [(u.name, u.role, u.scopes, u.active) for u in users.list_users(session)]
    assert listed == [
        ("agent1", Role.AGENT, [], True),
        ("reviewer1", Role.REVIEWER, ["银行服务/信用卡"], True),
    ]
    entry = repository.audit_for(session, "user", "reviewer1")[0]
    assert (entry.actor, entry.action, entry.detail) == (
        "admin",
        "create",
        {"role": "reviewer", "scopes": ["银行服务/信用卡"]},
    )


def test_user_input_is_checked(session: Session) -> None:
    make_package(session, "银行服务", "信用卡")
    with pytest.raises(
        ValidationFailed, match="role must be one of agent, editor, reviewer, admin"
    ):
        users.create_user(session, "x", "boss")
    with pytest.raises(ValidationFailed, match="no spaces"):
        users.create_user(session, "two words", "agent")
    with pytest.raises(ValidationFailed) as caught:
        users.create_user(session, "e1", "editor", ["银行服务/信用卡", "电商售后", "银行服务/贷款"])
    assert [p.value for p in caught.value.problems] == ["电商售后", "银行服务/贷款"]
    with pytest.raises(ValidationFailed, match="only editors and reviewers can be scoped"):
        users.create_user(session, "a1", "agent", ["银行服务"])
    users.create_user(session, "e1", "editor", ["银行服务"])
    with pytest.raises(Conflict, match="'e1' already exists"):
        users.create_user(session, "e1", "editor")
    with pytest.raises(NotFound, match="kb user add nobody --role ROLE"):
        users.get_user(session, "nobody")


def test_update_user_role_drops_scopes_for_unscopable_roles(session: Session) -> None:
    make_package(session, "银行服务", "信用卡")
    user = users.create_user(session, "e1", "editor", ["银行服务"])
    assert users.update_user(session, user, role="admin") is True
    assert (user.role, user.scopes) == (Role.ADMIN, [])
    assert users.update_user(session, user, role="admin") is False
    assert users.update_user(session, user, active=False) is True
    actions = [(e.action, e.detail) for e in repository.audit_for(session, "user", "e1")]
    assert actions[1:] == [
        ("update", {"role": "admin", "scopes": []}),
        ("update", {"active": False}),
    ]


def test_token_is_stored_only_as_its_hash_and_authenticates(session: Session) -> None:
    user = users.create_user(session, "agent1", "agent")
    row, token = users.issue_token(session, user, label="console")
    assert token.startswith("zk_") and len(token) == 3 + 43
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in stored
    assert users.authenticate(session, token) is user
    _, other = users.issue_token(session, user)
    assert other != token


@pytest.mark.parametrize("token", ["", "zk_not-a-real-token"])
def test_unknown_token_is_refused(session: Session, token: str) -> None:
    users.create_user(session, "agent1", "agent")
    with pytest.raises(Unauthenticated):
        users.authenticate(session, token)


def test_revoked_token_and_deactivated_user_are_refused(session: Session) -> None:
    user = users.create_user(session, "agent1", "agent")
    row, token = users.issue_token(session, user)
    _, second = users.issue_token(session, user)
    users.revoke_token(session, row.id, actor="admin")
    with pytest.raises(Unauthenticated, match="Unknown, revoked or deactivated"):
        users.authenticate(session, token)
    assert users.authenticate(session, second) is user
    users.update_user(session, user, active=False)
    with pytest.raises(Unauthenticated, match="Unknown, revoked or deactivated"):
        users.authenticate(session, second)
    actions = [e.action for e in repository.audit_for(session, "user", "agent1")]
    assert actions == ["create", "token-issue", "token-issue", "token-revoke", "update"]
    with pytest.raises(NotFound, match="No API token with id 99"):
        users.revoke_token(session, 99)


def test_authenticating_a_token_is_one_statement(session: Session) -> None:
    # Every API request authenticates: the token and its user come back in one query.
    from sqlalchemy import event

    user = users.create_user(session, "wang", "agent")
    _, token = users.issue_token(session, user)
    session.commit()
    session.expire_all()
    statements: list[str] = []
    engine = session.get_bind()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        found = users.authenticate(session, token)
        assert found.name == "wang" and found.active
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements
