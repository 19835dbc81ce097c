// Package biqueries finds and rewrites the saved queries of BI tools (Redash,
// Metabase) in bulk and safely: dry runs with unified diffs, optimistic
// locking, a backup of every change and a restore from that backup.
//
// The package holds the provider-neutral parts; the HTTP clients live in the
// redash and metabase subpackages and the command line in cli.
package bi

import (
	"context"
	"encoding/json"
	"errors"
)

// Query is one saved query as a provider reports it.
type Query struct {
	ID           int
	Name         string
	SQL          string
	DataSourceID int
	Tags         []string
	Archived     bool
	UpdatedAt    string
	// Version is the provider's optimistic-locking counter (Redash); zero
	// where the provider has none.
	Version int
	// Raw keeps provider-specific fields a write must send back unchanged
	// (Metabase's whole dataset_query, with its template tags).
	Raw json.RawMessage
}

// DataSource is a database connection a query runs against.
type DataSource struct {
	ID   int
	Name string
	Type string
}

// Change is the new state a write asks for.
type Change struct {
	SQL          string
	DataSourceID int
}

// ListOptions selects which queries a provider lists.
type ListOptions struct {
	// Archived lists the archived queries instead of the live ones.
	Archived bool
	// Progress, when set, is called after each page with the number of
	// queries fetched so far and the total the server reported (0 if unknown).
	Progress func(fetched, total int)
	// LeftOut, when set, is told about each listed item that is not a
	// query this tool can handle (a GUI-built Metabase card, a malformed
	// one), with the reason. When nil, a malformed item fails the listing.
	LeftOut func(id int, reason string)
}

// Provider is a BI tool's API.
type Provider interface {
	// Kind names the provider ("redash", "metabase").
	Kind() string
	List(ctx context.Context, opts ListOptions) ([]Query, error)
	Get(ctx context.Context, id int) (Query, error)
	// Update writes ch over the query last seen as old. When the query was
	// edited since old was read it returns an error wrapping ErrConflict
	// and writes nothing.
	Update(ctx context.Context, old Query, ch Change) (Query, error)
	DataSources(ctx context.Context) ([]DataSource, error)
	// SupportsTags tells whether queries carry tags (Metabase cards do not).
	SupportsTags() bool
}

// ErrConflict marks a write refused because the query changed since it was
// read (Redash answers HTTP 409).
var ErrConflict = errors.New("query was edited meanwhile")

// ErrUnreachable marks a request that got no answer from the server itself:
// the connection failed or timed out, or a gateway answered 502, 503 or
// 504. A run stops writing after a few of these in a row.
var ErrUnreachable = errors.New("server unreachable")
