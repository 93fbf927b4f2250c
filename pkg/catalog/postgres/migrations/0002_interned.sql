-- Layers and finding details are interned: a link row names its layer by a number, a finding its
-- detail by a number. 10,000 versions repeat a few thousand layer digests three million times, and
-- the same advisory on the same package in thousands of findings; the queries across versions read
-- numbers per row and resolve each distinct layer or detail once.

-- Every layer digest (diff ID) a package came from, once.
CREATE TABLE layers (
    id     BIGSERIAL PRIMARY KEY,
    digest TEXT      NOT NULL UNIQUE
);
INSERT INTO layers (digest) SELECT DISTINCT layer FROM platform_packages ORDER BY layer;

ALTER TABLE platform_packages ADD COLUMN layer_id BIGINT REFERENCES layers (id);
UPDATE platform_packages pp SET layer_id = l.id FROM layers l WHERE l.digest = pp.layer;
ALTER TABLE platform_packages ALTER COLUMN layer_id SET NOT NULL;
-- The exposure query reads the primary key's index alone (an index-only scan, the layer included).
ALTER TABLE platform_packages DROP CONSTRAINT platform_packages_pkey;
ALTER TABLE platform_packages DROP COLUMN layer;
ALTER TABLE platform_packages ADD PRIMARY KEY (package_id, platform_id) INCLUDE (layer_id);

-- Every distinct finding (an evidence.Finding as JSON), once, by the sha256 hex of its JSON.
CREATE TABLE finding_details (
    id     BIGSERIAL PRIMARY KEY,
    digest TEXT      NOT NULL UNIQUE,
    detail TEXT      NOT NULL
);
INSERT INTO finding_details (digest, detail)
    SELECT DISTINCT encode(sha256(convert_to(detail, 'UTF8')), 'hex'), detail FROM findings;

ALTER TABLE findings ADD COLUMN detail_id BIGINT REFERENCES finding_details (id);
UPDATE findings f SET detail_id = d.id FROM finding_details d WHERE d.digest = encode(sha256(convert_to(f.detail, 'UTF8')), 'hex');
ALTER TABLE findings ALTER COLUMN detail_id SET NOT NULL;
ALTER TABLE findings DROP COLUMN detail;
-- "Which versions have a finding at or above a severity" reads this index alone.
DROP INDEX findings_severity;
CREATE INDEX findings_severity ON findings (open, severity) INCLUDE (status, platform_id, detail_id, first_seen, fixed_version);
