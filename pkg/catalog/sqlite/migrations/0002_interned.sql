-- Layers and finding details are interned: a link row names its layer by a number, a finding its
-- detail by a number. 10,000 versions repeat a few thousand layer digests three million times, and
-- the same advisory on the same package in thousands of findings; the queries across versions read
-- numbers per row and resolve each distinct layer or detail once.

-- Every layer digest (diff ID) a package came from, once.
CREATE TABLE layers (
    id     INTEGER PRIMARY KEY,
    digest TEXT    NOT NULL UNIQUE
);
INSERT INTO layers (digest) SELECT DISTINCT layer FROM platform_packages ORDER BY layer;

CREATE TABLE platform_packages_2 (
    package_id  INTEGER NOT NULL REFERENCES packages (id),
    platform_id INTEGER NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    layer_id    INTEGER NOT NULL REFERENCES layers (id),
    PRIMARY KEY (package_id, platform_id)
) WITHOUT ROWID;
INSERT INTO platform_packages_2 (package_id, platform_id, layer_id)
    SELECT pp.package_id, pp.platform_id, l.id FROM platform_packages pp JOIN layers l ON l.digest = pp.layer;
DROP TABLE platform_packages;
ALTER TABLE platform_packages_2 RENAME TO platform_packages;
CREATE INDEX platform_packages_platform ON platform_packages (platform_id);

-- Every distinct finding (an evidence.Finding as JSON), once, by the sha256 hex of its JSON.
CREATE TABLE finding_details (
    id     INTEGER PRIMARY KEY,
    digest TEXT    NOT NULL UNIQUE,
    detail TEXT    NOT NULL
);
INSERT INTO finding_details (digest, detail) SELECT DISTINCT ingot_sha256(detail), detail FROM findings;

CREATE TABLE findings_2 (
    id            INTEGER PRIMARY KEY,
    platform_id   INTEGER NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    vuln_id       TEXT    NOT NULL,
    pkg_name      TEXT    NOT NULL,
    pkg_version   TEXT    NOT NULL,
    severity      INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    fixed_version TEXT    NOT NULL DEFAULT '',
    detail_id     INTEGER NOT NULL REFERENCES finding_details (id),
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    open          INTEGER NOT NULL,
    UNIQUE (platform_id, vuln_id, pkg_name, pkg_version)
);
INSERT INTO findings_2 (id, platform_id, vuln_id, pkg_name, pkg_version, severity, status, fixed_version, detail_id,
        first_seen, last_seen, open)
    SELECT f.id, f.platform_id, f.vuln_id, f.pkg_name, f.pkg_version, f.severity, f.status, f.fixed_version, d.id,
        f.first_seen, f.last_seen, f.open
    FROM findings f JOIN finding_details d ON d.digest = ingot_sha256(f.detail);
DROP TABLE findings;
ALTER TABLE findings_2 RENAME TO findings;
-- "Which versions have a finding at or above a severity" reads this index alone.
CREATE INDEX findings_severity ON findings (open, severity, status, platform_id, detail_id, first_seen, fixed_version);
