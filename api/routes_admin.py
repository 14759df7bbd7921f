"""Admin endpoints for the hierarchy: categories, packages with templates, tables and revisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api import limits, schemas, views
from api.deps import DbSession, Now, require
from api.errors import documented
from api.inputs import Id, PageNumber
from kb import (
    flags,
    hierarchy,
    listing,
    meta_changes,
    renaming,
    repository,
    tables,
    workflow,
)
from kb.errors import Conflict, NotFound
from kb.models import Audience, TableUsage, User
from kb.permissions import Action
from kb.tables import TableContent, TableMeta

router = APIRouter(
    prefix="/api/admin", tags=["admin: knowledge"], responses=documented(401, 403, 429)
)

Hierarchy = Annotated[User, Depends(require(Action.MANAGE_HIERARCHY))]
Reader = Annotated[User, Depends(require(Action.VIEW_QUEUES))]
Drafter = Annotated[User, Depends(require(Action.DRAFT))]  # checked before the body is


# Shown with every template field, derived: a template read here can be sent back as it is.
READ_ONLY_SPEC_KEYS = frozenset({"customer_sees"})


def _template(raw: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in spec.items() if k not in READ_ONLY_SPEC_KEYS} for spec in raw]


# ---------------------------------------------------------------- categories


@router.get("/categories", summary="List categories with their packages")
def list_categories(session: DbSession, _user: Reader) -> list[schemas.CategoryOut]:
    return [
        schemas.CategoryOut(
            name=c.name,
            description=c.description,
            packages=[views.package_ref(p) for p in c.packages],
        )
        for c in repository.all_categories(session)
    ]


@router.post("/categories", status_code=201, summary="Create a category", responses=documented(409))
def create_category(
    body: schemas.CategoryIn, session: DbSession, user: Hierarchy
) -> schemas.CategoryOut:
    if repository.category_by_name(session, body.name.strip()) is not None:
        raise Conflict(f"Category {body.name!r} already exists; update it with PUT instead.")
    category = hierarchy.ensure_category(
        session, body.name, description=body.description, actor=user.name
    )
    return schemas.CategoryOut(name=category.name, description=category.description, packages=[])


@router.put(
    "/categories/{name}", summary="Update a category's description", responses=documented(404)
)
def update_category(
    name: str, body: schemas.CategoryUpdate, session: DbSession, user: Hierarchy
) -> schemas.CategoryOut:
    category = hierarchy.get_category(session, name)
    hierarchy.ensure_category(session, name, description=body.description, actor=user.name)
    return schemas.CategoryOut(
        name=category.name,
        description=category.description,
        packages=[views.package_ref(p) for p in category.packages],
    )


@router.delete(
    "/categories/{name}", summary="Delete an empty category", responses=documented(404, 409)
)
def delete_category(name: str, session: DbSession, user: Hierarchy) -> schemas.Ok:
    """409, naming its packages, while the category has any."""
    hierarchy.delete_category(session, hierarchy.get_category(session, name), actor=user.name)
    return schemas.Ok(message=f"Category {name} deleted.")


@router.post(
    "/categories/{name}/rename",
    summary="Rename a category; users' scopes naming it follow",
    responses=documented(404, 409),
)
def rename_category(
    name: str, body: schemas.RenameIn, session: DbSession, user: Hierarchy
) -> schemas.CategoryOut:
    category = renaming.rename_category(session, user, name, body.name)
    return schemas.CategoryOut(
        name=category.name,
        description=category.description,
        packages=[views.package_ref(p) for p in category.packages],
    )


# ---------------------------------------------------------------- packages


@router.post(
    "/packages",
    status_code=201,
    summary="Create a package with its field template",
    responses=documented(404, 409),
)
def create_package(
    body: schemas.PackageIn, session: DbSession, user: Hierarchy
) -> schemas.PackageOut:
    category = hierarchy.get_category(session, body.category)
    if repository.package_by_name(session, category.name, body.name.strip()) is not None:
        raise Conflict(
            f"Package {body.category}/{body.name} already exists; update it with PUT instead."
        )
    package = hierarchy.ensure_package(
        session,
        category,
        body.name,
        template=_template(body.template),
        description=body.description,
        review_interval_days=body.review_interval_days,
        owner=body.owner,
        actor=user.name,
    )
    return views.package_out(package)


@router.get(
    "/packages/{category}/{name}",
    summary="A package: template and tables",
    responses=documented(404),
)
def get_package(category: str, name: str, session: DbSession, _user: Reader) -> schemas.PackageOut:
    return views.package_out(hierarchy.get_package(session, category, name))


@router.put(
    "/packages/{category}/{name}",
    summary="Update a package; a changed template becomes a new template version",
    responses=documented(404),
)
def update_package(
    category: str, name: str, body: schemas.PackageUpdate, session: DbSession, user: Hierarchy
) -> schemas.PackageOut:
    package = hierarchy.get_package(session, category, name)
    package = hierarchy.ensure_package(
        session,
        package.category,
        package.name,
        template=_template(body.template) if body.template is not None else package.template.fields,
        description=body.description,
        review_interval_days=body.review_interval_days,
        owner=body.owner,
        actor=user.name,
    )
    return views.package_out(package)


@router.delete(
    "/packages/{category}/{name}",
    summary="Delete an empty package",
    responses=documented(404, 409),
)
def delete_package(category: str, name: str, session: DbSession, user: Hierarchy) -> schemas.Ok:
    """409, naming its tables, while the package holds any (archived ones too)."""
    hierarchy.delete_package(
        session, hierarchy.get_package(session, category, name), actor=user.name
    )
    return schemas.Ok(message=f"Package {category}/{name} deleted.")


@router.post(
    "/packages/{category}/{name}/rename",
    summary="Rename a package within its category; users' scopes naming it follow",
    responses=documented(404, 409),
)
def rename_package(
    category: str, name: str, body: schemas.RenameIn, session: DbSession, user: Hierarchy
) -> schemas.PackageOut:
    package = renaming.rename_package(session, user, f"{category}/{name}", body.name)
    return views.package_out(package)


# ---------------------------------------------------------------- tables


@router.get("/tables", summary="Find tables by package, state and text", responses=documented(404))
def list_tables(
    session: DbSession,
    _user: Reader,
    package: Annotated[str | None, Query(description="'category/package'")] = None,
    state: Annotated[
        str | None, Query(description="One of " + ", ".join(workflow.STATUSES))
    ] = None,
    q: Annotated[str | None, Query(max_length=limits.MAX_QUERY_CHARS)] = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = 50,
) -> schemas.TableList:
    found = listing.find_tables(
        session, package=package, state=state, text=q, page=page, page_size=page_size
    )
    return schemas.TableList(
        total=found.total,
        page=page,
        page_size=page_size,
        tables=[views.table_row(t) for t in found.tables],
    )


@router.post(
    "/tables",
    status_code=201,
    summary="Create a table; its first revision is a draft",
    responses=documented(404, 409),
)
def create_table(
    body: schemas.TableIn, session: DbSession, user: Drafter, now: Now
) -> schemas.TableOut:
    package = hierarchy.find_package(session, body.package)
    content = TableContent(body.title, body.questions, body.tags, body.fields)
    meta = TableMeta(
        audience=Audience(body.audience),
        source=body.source,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )
    table = workflow.create(session, user, package, body.code, content, meta, note=body.note)
    if body.related:
        tables.set_links(session, table, body.related, actor=user.name)
    return _table_out(session, table.code, now)


@router.get(
    "/tables/{code}",
    summary="A table: metadata, live and latest revision, history",
    responses=documented(404),
)
def get_table(code: str, session: DbSession, _user: Reader, now: Now) -> schemas.TableOut:
    return _table_out(session, code, now)


@router.put(
    "/tables/{code}/draft",
    summary="Edit the open draft, or start a new draft from the latest revision",
    responses=documented(404, 409),
)
def edit_draft(
    code: str, body: schemas.DraftIn, session: DbSession, user: Drafter, now: Now
) -> schemas.TableOut:
    change = workflow.Edit(
        title=body.title,
        questions=body.questions,
        tags=body.tags,
        fields=body.fields,
        replace_fields=body.replace_fields,
    )
    workflow.edit(session, user, code, change, note=body.note)
    return _table_out(session, code, now)


@router.patch(
    "/tables/{code}",
    summary="Change a table's metadata; audience and validity changes are reviewed",
    responses=documented(404, 409),
)
def update_table(
    code: str, body: schemas.MetaIn, session: DbSession, user: Drafter, now: Now
) -> schemas.TableOut:
    """Source, related tables and package apply at once. Audience and validity apply at once
    only for a user who may publish (an admin); for anyone else they go onto the table's draft
    (``latest.proposed``) and take effect when a reviewer approves it."""
    change = meta_changes.MetaChange(
        audience=Audience(body.audience) if body.audience else None,
        source=body.source,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        clear_valid_from=body.clear_valid_from,
        clear_valid_until=body.clear_valid_until,
        related=body.related,
        package=body.package,
    )
    meta_changes.change_meta(session, user, code, change)
    return _table_out(session, code, now)


@router.get(
    "/tables/{code}/revisions/{number}",
    summary="One revision of a table",
    responses=documented(404),
)
def get_revision(code: str, number: Id, session: DbSession, _user: Reader) -> schemas.RevisionOut:
    table = tables.get_table(session, code)
    revision = repository.revision(session, table, number)
    if revision is None:
        raise NotFound(
            f"Table {code} has no revision {number}; it has revisions "
            f"1–{table.latest_revision.number}."
        )
    return views.revision_out(revision)


def _table_out(session: DbSession, code: str, now: Now) -> schemas.TableOut:
    table = tables.get_table(session, code)
    session.refresh(table)
    usage = session.get(TableUsage, table.id)
    return views.table_out(
        table,
        now,
        open_flags=list(flags.open_flags(session, table)),
        usage={
            "hits": usage.hits if usage else 0,
            "helpful": usage.helpful if usage else 0,
            "not_helpful": usage.not_helpful if usage else 0,
            "last_hit_at": usage.last_hit_at if usage else None,
        },
    )
