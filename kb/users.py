"""Users, their roles and scopes, and API tokens.

Tokens are ``zk_`` + 32 random bytes (URL-safe base64) from :mod:`secrets`, shown once and
stored only as their SHA-256. A fast unsalted hash is enough here, unlike for passwords: a
256-bit random token cannot be guessed or brute-forced from its hash, so a slow KDF would buy
nothing, while a deterministic hash lets a request find its token by a unique index lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kb import audit, repository
from kb.clock import utcnow
from kb.errors import Conflict, NotFound, Problem, Unauthenticated, ValidationFailed
from kb.models import ApiToken, Role, User
from kb.permissions import SCOPABLE

TOKEN_PREFIX = "zk_"
_NAME_RE = re.compile(r"^[\w.@\-]{1,100}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise ValidationFailed.one(
            f"role must be one of {roles}", field="role", value=value
        ) from None


def _check_scopes(session: Session, role: Role, scopes: Sequence[str]) -> list[str]:
    clean = [s.strip().strip("/") for s in scopes if s.strip().strip("/")]
    clean = [s for i, s in enumerate(clean) if s not in clean[:i]]
    if clean and role not in SCOPABLE:
        raise ValidationFailed.one(
            f"only editors and reviewers can be scoped; a {role.value} works everywhere",
            field="scopes",
            value=clean,
        )
    problems: list[Problem] = []
    for scope in clean:
        if "/" in scope:
            category, package = scope.split("/", 1)
            found = repository.package_by_name(session, category, package) is not None
        else:
            found = repository.category_by_name(session, scope) is not None
        if not found:
            problems.append(
                Problem(
                    f"no category or package {scope!r}; write a category name (银行服务) or a "
                    "'category/package' path (银行服务/信用卡)",
                    "scopes",
                    scope,
                )
            )
    if problems:
        raise ValidationFailed("Unknown scope.", problems=problems)
    return clean


def create_user(
    session: Session,
    name: str,
    role: str | Role,
    scopes: Sequence[str] = (),
    *,
    display_name: str = "",
    actor: str = "system",
) -> User:
    """A new active user; names are unique and kept as written (e.g. editor1, 李娜)."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise ValidationFailed.one(
            "name must be 1–100 letters, digits, '.', '_', '-' or '@' (no spaces)",
            field="name",
            value=name,
        )
    the_role = parse_role(role)
    clean = _check_scopes(session, the_role, scopes)
    if find_user(session, name) is not None:
        raise Conflict(f"A user named {name!r} already exists.")
    user = User(name=name, display_name=display_name.strip(), role=the_role, scopes=clean)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        object_type="user",
        object_key=name,
        detail={"role": the_role.value, "scopes": clean},
    )
    return user


def update_user(
    session: Session,
    user: User,
    *,
    role: str | Role | None = None,
    scopes: Sequence[str] | None = None,
    active: bool | None = None,
    actor: str = "system",
) -> bool:
    """Change role, scopes or active flag; returns whether anything changed."""
    new_role = parse_role(role) if role is not None else user.role
    kept = list(user.scopes) if new_role in SCOPABLE else []
    new_scopes = _check_scopes(session, new_role, scopes if scopes is not None else kept)
    changed: dict[str, object] = {}
    if new_role is not user.role:
        changed["role"] = new_role.value
    if new_scopes != list(user.scopes):
        changed["scopes"] = new_scopes
    if active is not None and active != user.active:
        changed["active"] = active
    if not changed:
        return False
    user.role = new_role
    user.scopes = new_scopes
    if active is not None:
        user.active = active
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        object_type="user",
        object_key=user.name,
        detail=changed,
    )
    return True


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def get_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise NotFound(f"No user {name!r}; add one with `kb user add {name} --role ROLE`.")
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.name)).all()


def issue_token(
    session: Session, user: User, *, label: str = "", actor: str = "system"
) -> tuple[ApiToken, str]:
    """A new token for ``user``: the stored row, and the token itself (shown once, never stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), label=label.strip()[:100])
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token-issue",
        object_type="user",
        object_key=user.name,
        detail={"token_id": row.id, "label": row.label},
    )
    return row, token


def tokens_of(session: Session, user: User) -> Sequence[ApiToken]:
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    ).all()


def authenticate(session: Session, token: str) -> User:
    """The active user holding ``token``; Unauthenticated for a missing, unknown or revoked one."""
    if not token:
        raise Unauthenticated("No API token given; send `Authorization: Bearer zk_...`.")
    row = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))  # every request: one query, not two
        .where(ApiToken.token_hash == hash_token(token))
    )
    if row is None or row.revoked_at is not None or not row.user.active:
        # One message for every case, so that a caller cannot probe which tokens exist.
        raise Unauthenticated(
            "Unknown, revoked or deactivated API token; ask an admin for a new one."
        )
    return row.user


def revoke_token(session: Session, token_id: int, *, actor: str = "system") -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"No API token with id {token_id}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="token-revoke",
            object_type="user",
            object_key=row.user.name,
            detail={"token_id": row.id},
        )
    return row
