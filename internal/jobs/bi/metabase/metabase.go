// Package metabase is a bi.Provider for the native-query (SQL) cards
// of the Metabase API. Metabase has no optimistic locking, so a write first
// re-reads the card and refuses when it no longer matches what was planned
// from; this narrows, but cannot close, the window for a lost edit.
package metabase

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/jobs/bi/httpapi"
)

// Client is a Metabase API client.
type Client struct {
	api *httpapi.Client
}

// New returns a client for the Metabase at opts.BaseURL, authenticating with
// apiKey in the X-API-KEY header.
func New(opts httpapi.Options, apiKey string) (*Client, error) {
	opts.AuthHeader = "X-API-KEY"
	opts.AuthValue = apiKey
	opts.Secret = apiKey
	api, err := httpapi.New(opts)
	if err != nil {
		return nil, err
	}
	return &Client{api: api}, nil
}

// Kind implements bi.Provider.
func (c *Client) Kind() string { return "metabase" }

// SupportsTags implements bi.Provider: cards have no tags.
func (c *Client) SupportsTags() bool { return false }

type card struct {
	ID           int             `json:"id"`
	Name         string          `json:"name"`
	Archived     bool            `json:"archived"`
	UpdatedAt    string          `json:"updated_at"`
	DatasetQuery json.RawMessage `json:"dataset_query"`
}

// datasetQuery is the legacy dataset_query of a native card. Other keys in
// "native" (template-tags and the like) are kept as they are.
type datasetQuery struct {
	Type     string                     `json:"type"`
	Database int                        `json:"database"`
	Native   map[string]json.RawMessage `json:"native"`
}

// toQuery converts a native card; ok is false for GUI-built cards.
func (c card) toQuery() (q bi.Query, ok bool, err error) {
	var dq datasetQuery
	if err := json.Unmarshal(c.DatasetQuery, &dq); err != nil {
		return q, false, fmt.Errorf("card %d: dataset_query is not the expected JSON: %w", c.ID, err)
	}
	if dq.Type != "native" {
		return q, false, nil
	}
	var sql string
	raw, has := dq.Native["query"]
	if !has {
		return q, false, fmt.Errorf("card %d: native card without dataset_query.native.query", c.ID)
	}
	if err := json.Unmarshal(raw, &sql); err != nil {
		return q, false, fmt.Errorf("card %d: dataset_query.native.query is not a string: %w", c.ID, err)
	}
	return bi.Query{
		ID: c.ID, Name: c.Name, SQL: sql, DataSourceID: dq.Database,
		Archived: c.Archived, UpdatedAt: c.UpdatedAt, Raw: c.DatasetQuery,
	}, true, nil
}

// List implements bi.Provider. Metabase returns every card in one
// response; cards built with the GUI query builder are left out.
func (c *Client) List(ctx context.Context, opts bi.ListOptions) ([]bi.Query, error) {
	f := "all"
	if opts.Archived {
		f = "archived"
	}
	var cards []card
	if err := c.api.Do(ctx, http.MethodGet, "/api/card", url.Values{"f": {f}}, nil, &cards); err != nil {
		return nil, fmt.Errorf("listing cards: %w", err)
	}
	out := make([]bi.Query, 0, len(cards))
	for _, cd := range cards {
		q, ok, err := cd.toQuery()
		switch {
		case err != nil && opts.LeftOut == nil:
			return nil, err
		case err != nil:
			opts.LeftOut(cd.ID, err.Error())
		case !ok:
			if opts.LeftOut != nil {
				opts.LeftOut(cd.ID, "built with the query builder, not SQL")
			}
		case q.Archived == opts.Archived:
			out = append(out, q)
		}
	}
	if opts.Progress != nil {
		opts.Progress(len(out), len(out))
	}
	return out, nil
}

// Get implements bi.Provider.
func (c *Client) Get(ctx context.Context, id int) (bi.Query, error) {
	var cd card
	if err := c.api.Do(ctx, http.MethodGet, "/api/card/"+strconv.Itoa(id), nil, nil, &cd); err != nil {
		return bi.Query{}, err
	}
	q, ok, err := cd.toQuery()
	if err != nil {
		return q, err
	}
	if !ok {
		return q, fmt.Errorf("card %d is not a native (SQL) query", id)
	}
	return q, nil
}

// Update implements bi.Provider.
func (c *Client) Update(ctx context.Context, old bi.Query, ch bi.Change) (bi.Query, error) {
	cur, err := c.Get(ctx, old.ID)
	if err != nil {
		return bi.Query{}, fmt.Errorf("re-reading card before the write: %w", err)
	}
	if cur.SQL != old.SQL || cur.DataSourceID != old.DataSourceID || cur.UpdatedAt != old.UpdatedAt {
		return bi.Query{}, fmt.Errorf("%w (card %d: updated_at %s, planned from %s)", bi.ErrConflict, old.ID, cur.UpdatedAt, old.UpdatedAt)
	}
	var dq datasetQuery
	if err := json.Unmarshal(cur.Raw, &dq); err != nil {
		return bi.Query{}, fmt.Errorf("card %d: %w", old.ID, err)
	}
	if dq.Native == nil {
		dq.Native = map[string]json.RawMessage{}
	}
	sql, _ := json.Marshal(ch.SQL)
	dq.Native["query"] = sql
	dq.Database = ch.DataSourceID
	var cd card
	if err := c.api.Do(ctx, http.MethodPut, "/api/card/"+strconv.Itoa(old.ID), nil, map[string]any{"dataset_query": dq}, &cd); err != nil {
		return bi.Query{}, err
	}
	q, ok, err := cd.toQuery()
	if err != nil {
		return q, err
	}
	if !ok {
		return q, fmt.Errorf("card %d: Metabase answered the update with a non-native card", old.ID)
	}
	return q, nil
}

// DataSources implements bi.Provider: Metabase calls them databases.
func (c *Client) DataSources(ctx context.Context) ([]bi.DataSource, error) {
	var resp struct {
		Data []struct {
			ID     int    `json:"id"`
			Name   string `json:"name"`
			Engine string `json:"engine"`
		} `json:"data"`
	}
	if err := c.api.Do(ctx, http.MethodGet, "/api/database", nil, nil, &resp); err != nil {
		return nil, fmt.Errorf("listing databases: %w", err)
	}
	out := make([]bi.DataSource, len(resp.Data))
	for i, d := range resp.Data {
		out[i] = bi.DataSource{ID: d.ID, Name: d.Name, Type: d.Engine}
	}
	return out, nil
}
