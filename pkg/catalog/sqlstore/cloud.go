package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// putDisks records a vm version's disk images, in Begin's transaction.
func (s *Store) putDisks(ctx context.Context, q querier, id int64, disks []catalog.Disk) error {
	rows := make([][]any, 0, len(disks))
	for _, d := range disks {
		rows = append(rows, []any{id, d.Format, d.Digest, d.Size})
	}
	return q.insertRows(ctx, "INSERT INTO vm_disks (version_id, format, digest, size) VALUES ", "", rows, nil)
}

// loadDisks fills in the disk images of the vm versions among byID.
func (s *Store) loadDisks(ctx context.Context, q querier, byID map[int64]*catalog.Version) error {
	var ids []int64
	for id, v := range byID {
		if v.Kind == catalog.KindVM {
			ids = append(ids, id)
		}
	}
	return s.inChunks(ids, func(chunk []any) error {
		return q.each(ctx, "SELECT version_id, format, digest, size FROM vm_disks WHERE version_id IN ("+inList(len(chunk))+") ORDER BY version_id, format",
			chunk, func(r *sql.Rows) error {
				var id int64
				var d catalog.Disk
				if err := r.Scan(&id, &d.Format, &d.Digest, &d.Size); err != nil {
					return err
				}
				byID[id].Disks = append(byID[id].Disks, d)
				return nil
			})
	})
}

const cloudCols = `c.provider, c.account, c.region, c.image_id, c.name, c.version_id, v.image, v.line, v.serial,
	v.digest, v.status, c.registered, c.actor`

func scanCloudImage(sc scanner) (catalog.CloudImage, error) {
	var c catalog.CloudImage
	var line, status string
	var serial int
	var registered int64
	err := sc.Scan(&c.Provider, &c.Account, &c.Region, &c.ID, &c.Name, &c.VersionID, &c.Image, &line, &serial,
		&c.Digest, &status, &registered, &c.Actor)
	c.Tag, c.Status, c.Registered = catalog.Tag(line, serial), catalog.Status(status), fromMicros(registered)
	return c, err
}

// cloudImage reads one registered image by provider and ID; sql.ErrNoRows when there is none.
func (s *Store) cloudImage(ctx context.Context, q querier, provider, id string) (catalog.CloudImage, error) {
	st, err := q.prepared(ctx, "SELECT "+cloudCols+" FROM cloud_images c JOIN versions v ON v.id = c.version_id WHERE c.provider = ? AND c.image_id = ?")
	if err != nil {
		return catalog.CloudImage{}, err
	}
	c, err := scanCloudImage(st.QueryRowContext(ctx, provider, id))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, q.fail("reading a cloud image", err)
	}
	return c, err
}

// RegisterCloudImage implements catalog.Clouds.
func (s *Store) RegisterCloudImage(ctx context.Context, r catalog.Ref, in catalog.CloudImage) (catalog.CloudImage, bool, error) {
	img, err := in.Normalize()
	if err != nil {
		return catalog.CloudImage{}, false, err
	}
	img.Registered = norm(img.Registered)
	existed := false
	err = s.write(ctx, func(q querier) error {
		id, err := s.resolve(ctx, q, r, false)
		if err != nil {
			return err
		}
		v, err := s.summary(ctx, q, id)
		if err != nil {
			return err
		}
		if v.Kind != catalog.KindVM {
			return fmt.Errorf("%w: %s is a %s image: only vm versions have cloud images", catalog.ErrInvalid, v.Ref(), v.Kind)
		}
		old, err := s.cloudImage(ctx, q, img.Provider, img.ID)
		switch {
		case err == nil && old.VersionID == id:
			if old.Account != img.Account || old.Region != img.Region {
				return fmt.Errorf("%w: %s %s is registered in %s/%s, not %s/%s", catalog.ErrTransition, img.Provider, img.ID,
					old.Account, old.Region, img.Account, img.Region)
			}
			existed, img = true, old
			return nil
		case err == nil:
			return fmt.Errorf("%w: %s %s is registered for %s@%s: deregister it first", catalog.ErrTransition, img.Provider, img.ID, old.Image, old.Tag)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO cloud_images (version_id, provider, account, region, image_id, name, registered, actor)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, img.Provider, img.Account, img.Region, img.ID, img.Name, micros(img.Registered), img.Actor); err != nil {
			return err
		}
		img.VersionID, img.Image, img.Tag, img.Digest, img.Status = id, v.Image, v.Tag(), v.Digest, v.Status.Status
		detail, err := json.Marshal(map[string]string{"provider": img.Provider, "account": img.Account, "region": img.Region, "id": img.ID})
		if err != nil {
			return err
		}
		// The event carries the version's status unchanged: followers read a version's status from
		// its newest event.
		ev := catalog.Event{Kind: catalog.EventCloudImage, VersionID: id, Image: v.Image, Tag: v.Tag(), Digest: v.Digest,
			Status: v.Status.Status, Reason: fmt.Sprintf("%s image %s in %s", img.Provider, img.ID, img.Region),
			Actor: img.Actor, At: img.Registered, Detail: detail}
		return s.appendEvent(ctx, q, &ev)
	})
	if err != nil {
		return catalog.CloudImage{}, false, err
	}
	return img, existed, nil
}

// DeregisterCloudImage implements catalog.Clouds.
func (s *Store) DeregisterCloudImage(ctx context.Context, provider, id string) error {
	if err := catalog.ValidProvider(provider); err != nil {
		return err
	}
	id = catalog.CanonicalImageID(provider, id)
	return s.write(ctx, func(q querier) error {
		res, err := q.exec(ctx, "DELETE FROM cloud_images WHERE provider = ? AND image_id = ?", provider, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("%w: %s image %s", catalog.ErrNotFound, provider, id))
		}
		return nil
	})
}

// CloudImages implements catalog.Clouds.
func (s *Store) CloudImages(ctx context.Context, cq catalog.CloudImageQuery) ([]catalog.CloudImage, error) {
	query := "SELECT " + cloudCols + " FROM cloud_images c JOIN versions v ON v.id = c.version_id WHERE v.state = ?"
	args := []any{string(catalog.StatePublished)}
	if cq.Provider != "" {
		if err := catalog.ValidProvider(cq.Provider); err != nil {
			return nil, err
		}
		query += " AND c.provider = ?"
		args = append(args, cq.Provider)
	}
	if cq.Image != "" {
		query += " AND v.image = ?"
		args = append(args, cq.Image)
	}
	filter, fargs, err := statusFilter("v", cq.Statuses)
	if err != nil {
		return nil, err
	}
	query += filter + " ORDER BY c.provider, c.region, c.image_id"
	args = append(args, fargs...)
	out := []catalog.CloudImage{}
	err = s.read(ctx, func(q querier) error {
		return q.each(ctx, query, args, func(r *sql.Rows) error {
			c, err := scanCloudImage(r)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}
