-- The store's schema. One row in code_system per (url, version); concepts keep their
-- designations and properties as JSON for one-read lookups, and concept_property indexes the
-- property values that filters search.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS code_system (
    id             INTEGER PRIMARY KEY,
    url            TEXT NOT NULL,
    version        TEXT NOT NULL DEFAULT '',
    resource_id    TEXT NOT NULL UNIQUE,
    provider       TEXT NOT NULL DEFAULT 'fhir',
    name           TEXT,
    title          TEXT,
    status         TEXT NOT NULL DEFAULT 'active',
    effective_date TEXT,
    content        TEXT NOT NULL DEFAULT 'complete',
    case_sensitive INTEGER NOT NULL DEFAULT 1,
    concept_count  INTEGER NOT NULL DEFAULT 0,
    resource       TEXT NOT NULL,
    imported_at    TEXT NOT NULL,
    UNIQUE (url, version)
);

CREATE TABLE IF NOT EXISTS concept (
    id           INTEGER PRIMARY KEY,
    cs_id        INTEGER NOT NULL REFERENCES code_system (id) ON DELETE CASCADE,
    code         TEXT NOT NULL,
    display      TEXT,
    definition   TEXT,
    inactive     INTEGER NOT NULL DEFAULT 0,
    effective    TEXT,
    withdrawn    TEXT,
    derived      INTEGER NOT NULL DEFAULT 0,
    designations TEXT NOT NULL DEFAULT '[]',
    properties   TEXT NOT NULL DEFAULT '[]',
    abstract     INTEGER NOT NULL DEFAULT 0,  -- not selectable (also: a notSelectable property)
    extensions   TEXT,                        -- JSON: the concept extensions expansions carry
    analysed     TEXT,                        -- the ranking's marks of its terms (encode_terms)
    UNIQUE (cs_id, code)
);
-- a code system's concepts in its own order (the ids'), without sorting them: a listing, and
-- a page at any offset of a whole code system (ICD-10-CM's at 50,000: 2 ms, not 50)
CREATE INDEX IF NOT EXISTS concept_in_order ON concept (cs_id);

-- A loaded FHIR CodeSystem's `concept` array as it came (nested), for CodeSystem reads with
-- concepts; the concept rows above are what every operation uses.
CREATE TABLE IF NOT EXISTS code_system_concepts (
    cs_id    INTEGER PRIMARY KEY REFERENCES code_system (id) ON DELETE CASCADE,
    concepts BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS concept_property (
    concept_id INTEGER NOT NULL REFERENCES concept (id) ON DELETE CASCADE,
    code       TEXT NOT NULL,
    value      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS concept_property_by_value ON concept_property (code, value);
CREATE INDEX IF NOT EXISTS concept_property_by_concept ON concept_property (concept_id);

CREATE TABLE IF NOT EXISTS concept_map (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL,
    version     TEXT NOT NULL DEFAULT '',
    resource_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    title       TEXT,
    status      TEXT NOT NULL DEFAULT 'active',
    resource    TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (url, version)
);

CREATE TABLE IF NOT EXISTS map_element (
    map_id         INTEGER NOT NULL REFERENCES concept_map (id) ON DELETE CASCADE,
    source_system  TEXT NOT NULL,
    source_code    TEXT NOT NULL,
    target_system  TEXT,
    target_code    TEXT,
    equivalence    TEXT NOT NULL,
    comment        TEXT,
    extra          TEXT,
    ordinal        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS map_element_by_source ON map_element (source_system, source_code);
CREATE INDEX IF NOT EXISTS map_element_by_target ON map_element (target_system, target_code);

CREATE TABLE IF NOT EXISTS value_set (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL,
    version     TEXT NOT NULL DEFAULT '',
    resource_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    title       TEXT,
    status      TEXT NOT NULL DEFAULT 'active',
    resource    TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (url, version)
);

-- The hierarchy: parent/child links between the concepts of one code-system version, by code.
CREATE TABLE IF NOT EXISTS concept_link (
    cs_id  INTEGER NOT NULL REFERENCES code_system (id) ON DELETE CASCADE,
    parent TEXT NOT NULL,
    child  TEXT NOT NULL,
    PRIMARY KEY (cs_id, child, parent)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS concept_link_by_parent ON concept_link (cs_id, parent, child);

-- Text search over every stored concept (rowid: the code-system version, a length, concept.id:
-- terminology/store/search.py index_rowid): `key`, the code folded to letters and digits and
-- marked as a code (E11.9 -> ke119), the display, the designations that differ from it, and `stems`:
-- the Snowball stems of their words where a stem differs from its word (diabetic -> diabet), so
-- that word forms find each other. concept_core holds, for the concepts that have short terms
-- (at most 3 essential words: "diabetes NOS", "Pneumonia, unspecified organism"), those words
-- and their stems: a small index where a search looks first for the concept a person means
-- (terminology/textsearch/ranking.py). The indexes keep no copy of the text (contentless), so
-- the Writer indexes each concept it inserts and unindexes each one before deleting it
-- (Writer._unindex): concepts are deleted nowhere else. concept_search_vocab lists the words
-- of concept_search per column, with how many concepts use each (for correcting typos).
CREATE VIRTUAL TABLE IF NOT EXISTS concept_search USING fts5 (
    key, display, terms, stems,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS concept_core USING fts5 (
    core,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS concept_search_vocab USING fts5vocab (concept_search, 'col');

-- CMS claim edits (codesystems/cms): medically unlikely edits (MUE) and procedure-to-procedure
-- (PTP) edits. One cms_edit_table row per imported table; its rows go with it.
CREATE TABLE IF NOT EXISTS cms_edit_table (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,             -- 'mue' or 'ptp'
    setting     TEXT NOT NULL,             -- 'practitioner', 'outpatient-hospital', 'dme', ...
    effective   TEXT NOT NULL DEFAULT '',  -- in force from this date; '' = no start date
    label       TEXT NOT NULL,             -- the release, e.g. 2026Q1
    source      TEXT NOT NULL,             -- the imported file names
    row_count   INTEGER NOT NULL DEFAULT 0,
    imported_at TEXT NOT NULL,
    UNIQUE (kind, setting, effective)
);

CREATE TABLE IF NOT EXISTS cms_mue (
    table_id  INTEGER NOT NULL REFERENCES cms_edit_table (id) ON DELETE CASCADE,
    code      TEXT NOT NULL,
    units     INTEGER NOT NULL,
    indicator INTEGER NOT NULL,           -- MUE adjudication indicator: 1 line, 2 and 3 per day
    rationale TEXT,
    PRIMARY KEY (table_id, code)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS cms_ptp (
    table_id   INTEGER NOT NULL REFERENCES cms_edit_table (id) ON DELETE CASCADE,
    column1    TEXT NOT NULL,
    column2    TEXT NOT NULL,
    effective  TEXT,                      -- ISO dates; deleted = the last day in force
    deleted    TEXT,
    modifier   INTEGER NOT NULL,          -- 0 never bypassed, 1 bypassed by a modifier, 9 n/a
    prior_1996 INTEGER NOT NULL DEFAULT 0,
    rationale  TEXT
);
CREATE INDEX IF NOT EXISTS cms_ptp_by_column1 ON cms_ptp (table_id, column1, column2);
CREATE INDEX IF NOT EXISTS cms_ptp_by_column2 ON cms_ptp (table_id, column2, column1);

-- What the first start (`txserver serve` on an empty store) has imported: one row per
-- committed sample step, and 'complete' at the end. A first start cut short is finished by the
-- next start, which skips the steps recorded here.
CREATE TABLE IF NOT EXISTS first_start_step (
    step         TEXT PRIMARY KEY,
    completed_at TEXT NOT NULL
);

-- NamingSystem resources: the unique ids (OIDs, URIs, UUIDs) by which a code system or an
-- identifier system is known. `url` is the R5 url (or R4's extension for it), '' when none:
-- then the id is the resource's identity.
CREATE TABLE IF NOT EXISTS naming_system (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL DEFAULT '',
    version     TEXT NOT NULL DEFAULT '',
    resource_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    kind        TEXT NOT NULL,             -- codesystem, identifier, root
    status      TEXT NOT NULL DEFAULT 'active',
    resource    TEXT NOT NULL,
    imported_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS naming_system_id (
    ns_id     INTEGER NOT NULL REFERENCES naming_system (id) ON DELETE CASCADE,
    type      TEXT NOT NULL,               -- oid, uuid, uri, iri-stem, v2csmnemonic, other
    value     TEXT NOT NULL,
    preferred INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS naming_system_id_by_value ON naming_system_id (value);

-- FHIR packages imported by name (`txserver import package`, `serve --package`).
CREATE TABLE IF NOT EXISTS fhir_package (
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    summary     TEXT NOT NULL,             -- the import summary's lines
    imported_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
