-- VM versions (issue 13): their disk images, and the cloud images they were imported as. Numbered
-- 0003: 0002 is the interned layers and finding details of the catalog's query rework.

-- A vm version's disk images, one per format; the raw disk's digest is the version's digest.
CREATE TABLE vm_disks (
    version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    format     TEXT    NOT NULL,
    digest     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (version_id, format)
) WITHOUT ROWID;
CREATE INDEX vm_disks_digest ON vm_disks (digest);

-- The cloud images of vm versions: an image ID is one version's, in one account and region. The
-- policies and the fleet report read them all by provider with the version's status.
CREATE TABLE cloud_images (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    image_id   TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    registered INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT '',
    UNIQUE (provider, image_id)
);
CREATE INDEX cloud_images_version ON cloud_images (version_id);
