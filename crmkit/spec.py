"""What contacts, companies and deals are: pure data that query, store and services share.

Each record type is described once (its fields in line order, their types, which may be
filtered, sorted, searched or written, the upsert key and the handle prefix); generic code
serves all three from these descriptions. This module imports nothing of ours on purpose: it
is the bottom floor of the layering.

Field types:
  text      free text                      email     an address, compared case-insensitively
  int       integer                        domain    normalised host name (acme.com)
  money     integer cents >= 0             currency  ISO 4217 code (USD)
  enum      one of `choices`               date      YYYY-MM-DD
  datetime  epoch seconds, printed RFC 3339 (every `*_at` field)
  tags      list of short strings          ref       the id of another record (`ref` kind)
  member    a workspace member's email     json      the `custom` object
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT = "text"
INT = "int"
MONEY = "money"
ENUM = "enum"
DATE = "date"
DATETIME = "datetime"
TAGS = "tags"
REF = "ref"
EMAIL = "email"
DOMAIN = "domain"
CURRENCY = "currency"
MEMBER = "member"
JSON = "json"

# Which operators a filter on each field type accepts.
ALL_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "in", "is", "not")
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    TEXT: ALL_OPS,
    EMAIL: ALL_OPS,
    DOMAIN: ALL_OPS,
    MEMBER: ("eq", "ne", "like", "in", "is", "not"),
    INT: ("eq", "ne", "gt", "gte", "lt", "lte", "in", "is", "not"),
    MONEY: ("eq", "ne", "gt", "gte", "lt", "lte", "in", "is", "not"),
    DATE: ("eq", "ne", "gt", "gte", "lt", "lte", "in", "is", "not"),
    DATETIME: ("eq", "ne", "gt", "gte", "lt", "lte", "is", "not"),
    ENUM: ("eq", "ne", "in", "is", "not"),
    CURRENCY: ("eq", "ne", "in", "is", "not"),
    REF: ("eq", "ne", "in", "is", "not"),
    # tags=a,b requires every tag; in: any of them; ne: none of them; is/not:null = no tags/some
    TAGS: ("eq", "ne", "in", "is", "not"),
    # custom.<key>: a JSON value of any type
    JSON: ALL_OPS,
}


# eq=False: specs are singletons compared and hashed by identity; a value hash would walk every
# field on each cache lookup (it cost ~40% of a 50-row list's time).
@dataclass(frozen=True, eq=False)
class Field:
    name: str  # the column and the body key
    type: str
    filterable: bool = True
    sortable: bool = False
    searchable: bool = False
    writable: bool = True
    choices: tuple[str, ...] = ()
    ref: str | None = None  # the record kind a `ref` field points at
    out: str | None = None  # the key in replies when it differs (company_id -> company)
    default: str | int | None = None
    max_len: int = 500
    in_list: bool = True  # printed on list lines, not only on a single GET
    nullable: bool = True  # NOT NULL columns let a keyset cursor be one index range
    # An index leads with (workspace_id, this column), or with the column for a reference:
    # a filter on it need not read the whole workspace. A test holds this to the schema.
    indexed: bool = False

    @property
    def key(self) -> str:
        return self.out or self.name


@dataclass(frozen=True, eq=False)
class RecordSpec:
    kind: str  # contact
    plural: str  # contacts (the route and the table)
    prefix: str  # c  (ids look like c_7k2m9q4x1z)
    fields: tuple[Field, ...]  # every column after id, in line order
    title: str  # the field that names a record (name / title)
    upsert_key: str | None = None  # POST merges into the record with this value
    required_any: tuple[str, ...] = ()  # a create needs at least one of these

    @property
    def table(self) -> str:
        return self.plural

    def field(self, name: str) -> Field | None:
        return _FIELD_INDEX[self.kind].get(name)

    def must(self, name: str) -> Field:
        """A field the caller knows exists (raises KeyError otherwise)."""
        return _FIELD_INDEX[self.kind][name]

    @property
    def writable(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.writable)

    @property
    def filterable(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.filterable)

    @property
    def sortable(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.sortable)

    @property
    def searchable(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.searchable)

    def handle(self, id_: str) -> str:
        return f"{self.kind}/{id_}"


def _common_tail() -> tuple[Field, ...]:
    """Fields every record type has, after its own: state, follow-up, activity, timestamps."""
    return (
        Field("tags", TAGS, max_len=64),
        Field("custom", JSON, filterable=False, max_len=16384),
        Field("follow_up_at", DATETIME, sortable=True, indexed=True),
        Field("follow_up_note", TEXT, max_len=2000),
        Field(
            "activity_count", INT, writable=False, out="activities", sortable=True, nullable=False
        ),
        Field("last_activity_at", DATETIME, writable=False, out="last_activity", sortable=True),
        Field("created_at", DATETIME, writable=False, sortable=True, nullable=False, indexed=True),
        Field("updated_at", DATETIME, writable=False, sortable=True, nullable=False, indexed=True),
        Field("created_by", MEMBER, writable=False, in_list=False),
        Field("version", INT, writable=False, filterable=False, in_list=False),
    )


CONTACT = RecordSpec(
    kind="contact",
    plural="contacts",
    prefix="c",
    title="name",
    upsert_key="email",
    required_any=("name", "email"),
    fields=(
        Field("name", TEXT, sortable=True, searchable=True, max_len=200, indexed=True),
        Field("email", EMAIL, sortable=True, searchable=True, max_len=254, indexed=True),
        Field("phone", TEXT, searchable=True, max_len=50, indexed=True),
        Field("title", TEXT, max_len=200),
        Field("company_id", REF, ref="company", out="company", indexed=True),
        Field("stage", TEXT, sortable=True, default="lead", max_len=50, indexed=True),
        Field("owner", MEMBER, sortable=True, max_len=254, indexed=True),
        *_common_tail(),
    ),
)

COMPANY = RecordSpec(
    kind="company",
    plural="companies",
    prefix="co",
    title="name",
    upsert_key="domain",
    required_any=("name", "domain"),
    fields=(
        Field("name", TEXT, sortable=True, searchable=True, max_len=200, indexed=True),
        Field("domain", DOMAIN, sortable=True, searchable=True, max_len=253, indexed=True),
        Field("notes", TEXT, searchable=True, max_len=10000),
        *_common_tail(),
    ),
)

DEAL = RecordSpec(
    kind="deal",
    plural="deals",
    prefix="d",
    title="title",
    required_any=("title",),
    fields=(
        Field("title", TEXT, sortable=True, searchable=True, max_len=200, indexed=True),
        Field("amount_cents", MONEY, sortable=True, indexed=True),
        Field("currency", CURRENCY, default="USD"),
        Field("contact_id", REF, ref="contact", out="contact", indexed=True),
        Field("company_id", REF, ref="company", out="company", indexed=True),
        Field("stage", TEXT, sortable=True, max_len=50, indexed=True),
        Field(
            "status",
            ENUM,
            sortable=True,
            choices=("open", "won", "lost"),
            default="open",
            indexed=True,
        ),
        Field("close_date", DATE, sortable=True, indexed=True),
        *_common_tail(),
    ),
)

SPECS: dict[str, RecordSpec] = {s.kind: s for s in (CONTACT, COMPANY, DEAL)}
BY_PLURAL: dict[str, RecordSpec] = {s.plural: s for s in SPECS.values()}
_FIELD_INDEX: dict[str, dict[str, Field]] = {
    s.kind: {f.name: f for f in s.fields} for s in SPECS.values()
}

# Body keys no client may write, with the reason given back in the 400.
READ_ONLY = {
    "id": "ids are assigned by crmkit",
    "handle": "handles are assigned by crmkit",
    "workspace_id": "a record always lives in the token's workspace",
    "created_at": "set by crmkit when the record is created",
    "updated_at": "set by crmkit on every change",
    "created_by": "set by crmkit to the caller's email",
    "activity_count": "counted from the record's activities",
    "activities": "log activities with POST /<type>s/{id}/activities",
    "last_activity_at": "follows the record's newest activity",
    "last_activity": "follows the record's newest activity",
}

DEFAULT_SORT = "created_at"
DEFAULT_DESCENDING = True
