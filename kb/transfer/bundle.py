"""What an import carries, independent of the file format it came from.

Readers (YAML, CSV, XLSX, eval datasets) produce a :class:`Bundle`; the importer validates a
whole bundle, then writes it in one transaction. ``location`` fields say where each item came
from (file and line or row) so that problems can point at it. Problems a reader finds (a file
that is not UTF-8, a schema error, a missing column) travel in ``Bundle.problems`` so that the
importer can report them together with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from kb.errors import Problem


@dataclass
class TableDoc:
    code: Any
    title: Any
    questions: Any = None
    tags: Any = None
    fields: Any = None
    audience: Any = "public"
    author: Any = ""
    source: Any = ""
    valid_from: Any = None
    valid_until: Any = None
    last_verified: Any = None
    related: Any = None
    # "archived" or "draft": not live where it was exported; a table the import creates stays
    # so (None: live, or as the import makes it).
    state: Any = None
    # The number of the template version (in this package's file) the fields were written
    # under; None: the package's current template.
    template_version: Any = None
    location: str | None = None
    # Finer locations by attribute ("valid_until", "fields.answer"); falls back to ``location``.
    locations: dict[str, str] = field(default_factory=dict)
    # None: the document states the whole table (YAML). Else the attributes a spreadsheet gave
    # columns for; the others keep their stored values.
    present: frozenset[str] | None = None

    def where(self, attribute: str) -> str | None:
        return self.locations.get(attribute, self.location)

    def values(self) -> dict[str, Any]:
        """What the file says of the table, by attribute (not where it said it)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in {"location", "locations", "present"}
        }

    def gives(self, attribute: str) -> bool:
        return self.present is None or attribute in self.present


@dataclass
class TemplateDoc:
    """An earlier version of a package's template that some table of the file was written under."""

    version: Any
    template: Any
    location: str | None = None


@dataclass
class PackageDoc:
    category: str
    name: str
    template: Any = None  # None: the package must already exist (CSV/XLSX rows)
    # The number of ``template`` where it was exported; None: a file that states no versions,
    # whose tables are all read through ``template`` (as before versions were exported).
    template_version: Any = None
    earlier_templates: list[TemplateDoc] = field(default_factory=list)
    description: Any = None
    review_interval_days: Any = None
    owner: Any = None
    position: Any = None
    tables: list[TableDoc] = field(default_factory=list)
    location: str | None = None
    template_location: str | None = None


@dataclass
class CategoryDoc:
    name: str
    description: Any = None
    position: Any = None
    location: str | None = None


@dataclass
class Bundle:
    categories: list[CategoryDoc] = field(default_factory=list)
    packages: list[PackageDoc] = field(default_factory=list)
    synonyms: list[Any] = field(default_factory=list)
    terms: list[Any] = field(default_factory=list)
    dictionary_given: bool = False  # a dictionary file was present: replace the stored one
    synonym_locations: list[str | None] = field(default_factory=list)  # one per synonym group
    terms_location: str | None = None
    problems: list[Problem] = field(default_factory=list)  # found while reading
    # Codes seen in files that could not be read as a whole, so that links to them are not
    # also reported as unknown.
    unread_codes: set[str] = field(default_factory=set)
    source: str = ""  # what was read, for messages

    def table_count(self) -> int:
        return sum(len(p.tables) for p in self.packages)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)  # table codes
    revised: list[str] = field(default_factory=list)  # new revision
    updated: list[str] = field(default_factory=list)  # metadata, links or package only
    unchanged: list[str] = field(default_factory=list)
    # Codes whose audience / validity change waits for review on a draft (draft imports).
    proposed: list[str] = field(default_factory=list)
    changed_table_ids: set[int] = field(default_factory=set)
    categories: int = 0  # created or updated
    packages: int = 0  # created or updated
    dictionary_changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "revised": len(self.revised),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "categories": self.categories,
            "packages": self.packages,
            "dictionary_changed": self.dictionary_changed,
            "proposed": len(self.proposed),
            "codes": {
                "created": self.created,
                "revised": self.revised,
                "updated": self.updated,
                "proposed": self.proposed,
            },
        }
