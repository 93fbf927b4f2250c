-- The catalog's first schema (SQLite). Times are microseconds since the Unix epoch, UTC: one
-- encoding on both backends, ordered and compared as integers. Booleans are 0 and 1.

-- One row per built image version (one digest). Rows stay small (the bytes it was built from are in
-- version_sources), so the versions an exposure query visits share pages.
CREATE TABLE versions (
    id            INTEGER PRIMARY KEY,
    image         TEXT    NOT NULL,
    line          TEXT    NOT NULL,
    serial        INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    spec_digest   TEXT    NOT NULL DEFAULT '',
    lock_digest   TEXT    NOT NULL DEFAULT '',
    state         TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    status_reason TEXT    NOT NULL DEFAULT '',
    status_actor  TEXT    NOT NULL DEFAULT '',
    status_at     INTEGER NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    built         INTEGER NOT NULL,
    published     INTEGER,
    deprecate_at  INTEGER,
    UNIQUE (image, digest),
    UNIQUE (image, line, serial)
);
CREATE INDEX versions_line ON versions (image, line, status);
CREATE INDEX versions_pending ON versions (state) WHERE state = 'pending';
CREATE INDEX versions_due ON versions (deprecate_at) WHERE deprecate_at IS NOT NULL AND status = 'active';

-- The spec and lock bytes a version was built from.
CREATE TABLE version_sources (
    version_id INTEGER PRIMARY KEY REFERENCES versions (id) ON DELETE CASCADE,
    spec       BLOB,
    lock       BLOB
);

-- The last serial given out per image and release line: serials are never reused, not even those of
-- abandoned versions, whose tags may already have been pushed.
CREATE TABLE line_serials (
    image TEXT    NOT NULL,
    line  TEXT    NOT NULL,
    last  INTEGER NOT NULL,
    PRIMARY KEY (image, line)
) WITHOUT ROWID;

-- The platform images of a version (their evidence is in platform_evidence: small rows here too).
-- image, tag, version_digest, state and status are the version's, copied here and changed in the
-- same transactions as the version's own, so that the queries across versions (which versions ship a
-- package, which have a finding) join one table less per row.
CREATE TABLE platforms (
    id             INTEGER   PRIMARY KEY,
    version_id     INTEGER   NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    os             TEXT      NOT NULL,
    arch           TEXT      NOT NULL,
    variant        TEXT      NOT NULL DEFAULT '',
    digest         TEXT      NOT NULL,
    image          TEXT      NOT NULL,
    tag            TEXT      NOT NULL,
    version_digest TEXT      NOT NULL,
    state          TEXT      NOT NULL,
    status         TEXT      NOT NULL,
    -- when its vulnerabilities were last scanned (the build's scan, then every re-scan), microseconds
    scanned        INTEGER,
    UNIQUE (version_id, digest)
);
CREATE INDEX platforms_digest ON platforms (digest);

-- Everything the evidence stages recorded for a platform image: the evidence.Set as zstd-compressed
-- JSON (SBOMs compress tenfold).
CREATE TABLE platform_evidence (
    platform_id INTEGER PRIMARY KEY REFERENCES platforms (id) ON DELETE CASCADE,
    evidence    BLOB    NOT NULL
);

-- Every distinct package of every inventory, once: thousands of versions share a few thousand.
-- name_key is the name as the ecosystem compares it (PEP 503 for PyPI).
CREATE TABLE packages (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    ecosystem      TEXT NOT NULL,
    type           TEXT NOT NULL,
    arch           TEXT NOT NULL,
    source         TEXT NOT NULL,
    source_version TEXT NOT NULL,
    purl           TEXT NOT NULL,
    name_key       TEXT NOT NULL,
    UNIQUE (name, version, ecosystem, type, arch, source, source_version, purl)
);
CREATE INDEX packages_name_key ON packages (name_key);
CREATE INDEX packages_source ON packages (source);

-- Which platform image ships which package, from which layer. Keyed by package first: the exposure
-- query goes from packages to the platforms that ship them.
CREATE TABLE platform_packages (
    package_id  INTEGER NOT NULL REFERENCES packages (id),
    platform_id INTEGER NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    layer       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (package_id, platform_id)
) WITHOUT ROWID;
CREATE INDEX platform_packages_platform ON platform_packages (platform_id);

-- Vulnerability findings per platform image, kept across re-scans: open says whether the newest scan
-- still has it; detail is the evidence.Finding as JSON.
CREATE TABLE findings (
    id            INTEGER PRIMARY KEY,
    platform_id   INTEGER NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    vuln_id       TEXT    NOT NULL,
    pkg_name      TEXT    NOT NULL,
    pkg_version   TEXT    NOT NULL,
    severity      INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    fixed_version TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    open          INTEGER NOT NULL,
    UNIQUE (platform_id, vuln_id, pkg_name, pkg_version)
);
CREATE INDEX findings_severity ON findings (open, severity);

-- Where a version's image is stored, and what was signed and attested for it.
CREATE TABLE locations (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    ref        TEXT    NOT NULL,
    UNIQUE (version_id, kind, ref)
);
CREATE TABLE artifacts (
    id             INTEGER PRIMARY KEY,
    version_id     INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL,
    format         TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    key_id         TEXT    NOT NULL,
    predicate_type TEXT    NOT NULL,
    ref            TEXT    NOT NULL,
    UNIQUE (version_id, kind, format, subject, predicate_type, ref)
);

-- The append-only history. seq is given out under the write lock as max + 1, so it increases in
-- commit order without gaps: a follower that saw seq N never misses an event below it.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    version_id  INTEGER NOT NULL,
    image       TEXT    NOT NULL,
    tag         TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    from_status TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    actor       TEXT    NOT NULL DEFAULT '',
    at          INTEGER NOT NULL,
    detail      TEXT
);
CREATE INDEX events_image ON events (image, seq);
CREATE INDEX events_version ON events (version_id, seq);

-- Specs registered for continuous rebuild, with their bytes.
CREATE TABLE specs (
    id     INTEGER PRIMARY KEY,
    name   TEXT    NOT NULL UNIQUE,
    spec   BLOB    NOT NULL,
    files  BLOB,
    lock   BLOB,
    digest TEXT    NOT NULL,
    added  INTEGER NOT NULL
);

-- When each package version was first seen in a repository index (patch SLAs).
CREATE TABLE upstream_seen (
    ecosystem  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    source     TEXT    NOT NULL DEFAULT '',
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, name, version)
) WITHOUT ROWID;

-- API bearer tokens, by the hash of their secret.
CREATE TABLE tokens (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE,
    scope   TEXT    NOT NULL,
    hash    TEXT    NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
