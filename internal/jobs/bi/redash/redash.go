// Package redash is a bi.Provider for the Redash API: queries are
// listed page by page, and every write sends the version it was read at so
// Redash refuses (HTTP 409) to overwrite a query edited meanwhile.
package redash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/jobs/bi/httpapi"
)

// PageSize is the largest page Redash serves.
const PageSize = 250

// Client is a Redash API client.
type Client struct {
	api *httpapi.Client
}

// New returns a client for the Redash at opts.BaseURL, authenticating with
// apiKey in the "Authorization: Key" header.
func New(opts httpapi.Options, apiKey string) (*Client, error) {
	opts.AuthHeader = "Authorization"
	opts.AuthValue = "Key " + apiKey
	opts.Secret = apiKey
	api, err := httpapi.New(opts)
	if err != nil {
		return nil, err
	}
	return &Client{api: api}, nil
}

// Kind implements bi.Provider.
func (c *Client) Kind() string { return "redash" }

// SupportsTags implements bi.Provider.
func (c *Client) SupportsTags() bool { return true }

// query is the part of Redash's query object this tool reads.
type query struct {
	ID           int      `json:"id"`
	Name         string   `json:"name"`
	Query        string   `json:"query"`
	DataSourceID *int     `json:"data_source_id"`
	Tags         []string `json:"tags"`
	IsArchived   bool     `json:"is_archived"`
	UpdatedAt    string   `json:"updated_at"`
	Version      int      `json:"version"`
}

func (q query) toQuery() bi.Query {
	ds := 0
	if q.DataSourceID != nil {
		ds = *q.DataSourceID
	}
	return bi.Query{
		ID: q.ID, Name: q.Name, SQL: q.Query, DataSourceID: ds, Tags: q.Tags,
		Archived: q.IsArchived, UpdatedAt: q.UpdatedAt, Version: q.Version,
	}
}

type page struct {
	Count    int     `json:"count"`
	Page     int     `json:"page"`
	PageSize int     `json:"page_size"`
	Results  []query `json:"results"`
}

// List implements bi.Provider. It walks every page; live and archived
// queries are separate listings in Redash.
func (c *Client) List(ctx context.Context, opts bi.ListOptions) ([]bi.Query, error) {
	path := "/api/queries"
	if opts.Archived {
		path = "/api/queries/archive"
	}
	var out []bi.Query
	seen := map[int]bool{}
	for n := 1; ; n++ {
		var p page
		v := url.Values{"page": {strconv.Itoa(n)}, "page_size": {strconv.Itoa(PageSize)}}
		if err := c.api.Do(ctx, http.MethodGet, path, v, nil, &p); err != nil {
			return nil, fmt.Errorf("listing queries, page %d: %w", n, err)
		}
		for _, q := range p.Results {
			// A query created while paging shifts the later pages by one;
			// keep the first copy rather than listing it twice.
			if !seen[q.ID] {
				seen[q.ID] = true
				out = append(out, q.toQuery())
			}
		}
		if opts.Progress != nil {
			opts.Progress(len(out), p.Count)
		}
		if len(p.Results) == 0 || n*PageSize >= p.Count {
			return out, nil
		}
	}
}

// Get implements bi.Provider.
func (c *Client) Get(ctx context.Context, id int) (bi.Query, error) {
	var q query
	if err := c.api.Do(ctx, http.MethodGet, "/api/queries/"+strconv.Itoa(id), nil, nil, &q); err != nil {
		return bi.Query{}, err
	}
	return q.toQuery(), nil
}

// Update implements bi.Provider. Only changed fields are sent, with
// the version old was read at.
func (c *Client) Update(ctx context.Context, old bi.Query, ch bi.Change) (bi.Query, error) {
	body := map[string]any{"version": old.Version}
	if ch.SQL != old.SQL {
		body["query"] = ch.SQL
	}
	if ch.DataSourceID != old.DataSourceID {
		body["data_source_id"] = ch.DataSourceID
	}
	var q query
	err := c.api.Do(ctx, http.MethodPost, "/api/queries/"+strconv.Itoa(old.ID), nil, body, &q)
	if httpapi.StatusOf(err) == http.StatusConflict {
		return bi.Query{}, fmt.Errorf("%w (Redash refused version %d: %w)", bi.ErrConflict, old.Version, err)
	}
	if err != nil {
		return bi.Query{}, err
	}
	if q.ID != old.ID {
		return bi.Query{}, errors.New("Redash answered the update with a different query id " + strconv.Itoa(q.ID))
	}
	return q.toQuery(), nil
}

// DataSources implements bi.Provider.
func (c *Client) DataSources(ctx context.Context) ([]bi.DataSource, error) {
	var ds []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := c.api.Do(ctx, http.MethodGet, "/api/data_sources", nil, nil, &ds); err != nil {
		return nil, fmt.Errorf("listing data sources: %w", err)
	}
	out := make([]bi.DataSource, len(ds))
	for i, d := range ds {
		out[i] = bi.DataSource{ID: d.ID, Name: d.Name, Type: d.Type}
	}
	return out, nil
}
