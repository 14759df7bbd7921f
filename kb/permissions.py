"""Who may do what. :func:`check` is the one permission check; every service function calls it.

The grant table is written out in full (not derived from a role ladder) so that each
role × action pair can be read here and is tested one by one. Editors and reviewers may be
scoped to categories (``银行服务``) or packages (``银行服务/信用卡``); an empty scope list means
everywhere. Scopes only narrow the actions that touch one package's content (``SCOPED``).

Customers' contact requests (``HANDLE_REQUESTS``) hold personal data (phone, e-mail, WeChat):
only the people who call customers back (agents) and their supervisors (reviewers, admins)
read them; editors, who write knowledge, see the questions through the knowledge-gap list.
"""

from __future__ import annotations

from enum import StrEnum

from kb.errors import PermissionDenied
from kb.hierarchy import package_path
from kb.models import Package, Role, User


class Action(StrEnum):
    SEARCH = "search"  # read suggestions, including internal fields
    FLAG = "flag"  # report a live table as wrong / outdated / unclear / duplicate
    DRAFT = "draft"  # create a table, write or edit a draft
    SUBMIT = "submit"  # send a draft to review, or withdraw it
    REVIEW = "review"  # approve or reject a revision in review
    PUBLISH = "publish"  # make content live without review (imports published at once)
    ARCHIVE = "archive"  # take a live table out of service
    ROLLBACK = "rollback"  # start a draft copying an earlier revision
    VERIFY = "verify"  # record a re-verification, extend validity
    RESOLVE_FLAG = "resolve_flag"  # dismiss an agent's flag
    VIEW_QUEUES = "view_queues"  # expiring, expired, flagged and review queues
    VIEW_AUDIT = "view_audit"
    EXPORT = "export"
    IMPORT = "import"  # import content as drafts (publishing it needs PUBLISH too)
    MANAGE_DICTIONARY = "manage_dictionary"  # synonyms and domain terms
    MANAGE_HIERARCHY = "manage_hierarchy"  # categories, packages, templates
    MANAGE_USERS = "manage_users"
    SWEEP = "sweep"  # run the staleness sweep and scheduled publication
    HANDLE_REQUESTS = "handle_requests"  # read and work customers' contact requests
    VIEW_HEALTH = "view_health"  # the service's internals: index, counts, last sweep


# Actions on one package's content: a scoped user may do them only inside their scopes.
SCOPED: frozenset[Action] = frozenset(
    {
        Action.DRAFT,
        Action.SUBMIT,
        Action.REVIEW,
        Action.PUBLISH,
        Action.ARCHIVE,
        Action.ROLLBACK,
        Action.VERIFY,
        Action.RESOLVE_FLAG,
    }
)

_AGENT = {Action.SEARCH, Action.FLAG, Action.HANDLE_REQUESTS}
_EDITOR = {
    Action.SEARCH,
    Action.FLAG,
    Action.DRAFT,
    Action.SUBMIT,
    Action.ROLLBACK,
    Action.VIEW_QUEUES,
    Action.VIEW_AUDIT,
    Action.EXPORT,
    Action.IMPORT,
}
_REVIEWER = _EDITOR | {
    Action.HANDLE_REQUESTS,
    Action.REVIEW,
    Action.ARCHIVE,
    Action.VERIFY,
    Action.RESOLVE_FLAG,
    Action.MANAGE_DICTIONARY,
}

GRANTS: dict[Role, frozenset[Action]] = {
    Role.AGENT: frozenset(_AGENT),
    Role.EDITOR: frozenset(_EDITOR),
    Role.REVIEWER: frozenset(_REVIEWER),
    Role.ADMIN: frozenset(Action),
}

# Roles that may carry scopes; an agent's or admin's work is never limited to a package.
SCOPABLE: frozenset[Role] = frozenset({Role.EDITOR, Role.REVIEWER})


def local_operator(name: str) -> User:
    """Whoever runs Zhiku's commands on the server without ``--as``: every right, no scope.

    Not a stored user: the shell that owns the database file can change it anyway, so the
    local commands (``kb import`` without ``--as``, ``kb demo-load``, eval sandboxes) act as
    this identity, recorded under ``name`` in the audit log, through the same checks.
    """
    return User(name=name, display_name=name, role=Role.ADMIN, scopes=[], active=True)


def in_scope(user: User, package: Package) -> bool:
    """Whether ``package`` lies inside the user's scopes (no scopes: everywhere)."""
    if not user.scopes or user.role not in SCOPABLE:
        return True
    return package.category.name in user.scopes or package_path(package) in user.scopes


def allowed(user: User, action: Action, package: Package | None = None) -> bool:
    try:
        check(user, action, package)
    except PermissionDenied:
        return False
    return True


def check(user: User, action: Action, package: Package | None = None) -> None:
    """Raise PermissionDenied unless ``user`` may do ``action`` (in ``package`` when given)."""
    who = f"{user.name} ({user.role.value})"
    if not user.active:
        raise PermissionDenied(f"User {user.name} is deactivated; an admin can reactivate them.")
    if action not in GRANTS[user.role]:
        roles = ", ".join(r.value for r in Role if action in GRANTS[r])
        raise PermissionDenied(f"{who} may not {action.value}; allowed for: {roles}.")
    if package is not None and action in SCOPED and not in_scope(user, package):
        scopes = ", ".join(user.scopes)
        raise PermissionDenied(
            f"{who} may not {action.value} in {package_path(package)}: "
            f"their scope is {scopes}; ask a {user.role.value} of that package or an admin."
        )


def check_move(user: User, source: Package, target: Package) -> None:
    """Raise PermissionDenied unless ``user`` may move a table from ``source`` to ``target``.

    A move applies the target's template and review interval at once, unreviewed: which of the
    table's fields customers see and when it expires. Like a change of audience or validity made
    without review, it takes the right to publish, in both packages.
    """
    check(user, Action.DRAFT, source)
    check(user, Action.DRAFT, target)
    if not allowed(user, Action.PUBLISH, source) or not allowed(user, Action.PUBLISH, target):
        raise PermissionDenied(
            f"{user.name} ({user.role.value}) may not move a table from {package_path(source)} "
            f"to {package_path(target)}: a move applies the new package's template and review "
            "interval at once, unreviewed (which fields customers see, when the table expires); "
            "an admin moves tables."
        )
