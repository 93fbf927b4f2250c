package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Client follows a catalog through ingot serve's API, for processes that have no access to its
// database: its Events has the signature of catalog.Versions.Events, so it can stand wherever a
// follower takes an event source (the admission webhook's).
type Client struct {
	// BaseURL is the server's, as "https://ingot.example:8443".
	BaseURL string
	// Token is a bearer secret (read scope is enough to follow).
	Token string
	// HTTP carries the requests; nil uses http.DefaultClient. Its Timeout, if any, must exceed Wait.
	HTTP *http.Client
	// Wait makes Events a long poll: when nothing is new, the server holds the answer this long
	// (at most its limit, 60s by default) for an event to come.
	Wait time.Duration
}

// Events returns up to limit events after the sequence number after, in order (limit 0, or more
// than the server's page, is the server's largest page, MaxEventLimit).
func (c *Client) Events(ctx context.Context, after int64, limit int) ([]catalog.Event, error) {
	if limit <= 0 || limit > MaxEventLimit {
		limit = MaxEventLimit
	}
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(limit)}}
	if c.Wait > 0 {
		q.Set("wait", c.Wait.String())
	}
	var page EventPage
	if err := c.get(ctx, "/v1/events?"+q.Encode(), &page); err != nil {
		return nil, err
	}
	return page.Events, nil
}

// get fetches path and decodes its JSON answer into v; an error answer becomes an error of the
// fault kind the server mapped to its status.
func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.BaseURL, "/")+path, nil)
	if err != nil {
		return fault.Errorf(fault.Invalid, "catalog API: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fault.Errorf(fault.Unavailable, "catalog API: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end below
	if resp.StatusCode != http.StatusOK {
		var e Error
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return fault.Errorf(kindOf(resp.StatusCode), "catalog API: %s %s: %s", resp.Status, path, e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fault.Errorf(fault.Unavailable, "catalog API: %s: reading the answer: %w", path, err)
	}
	return nil
}

// kindOf reads statusOf backwards, for a client to act on the kind of a failure.
func kindOf(status int) fault.Kind {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return fault.Invalid
	case http.StatusNotFound:
		return fault.NotFound
	case http.StatusConflict:
		return fault.Conflict
	case http.StatusUnauthorized:
		return fault.Unauthenticated
	case http.StatusForbidden:
		return fault.Forbidden
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return fault.Unavailable
	}
	return fault.Internal
}

var _ interface {
	Events(ctx context.Context, after int64, limit int) ([]catalog.Event, error)
} = (*Client)(nil)

// String names the server the client follows, for logs.
func (c *Client) String() string { return fmt.Sprintf("catalog API at %s", c.BaseURL) }
