// Package httpapi is the small JSON-over-HTTP client the BI providers share:
// one place that authenticates, rate-limits, retries safe reads, checks the
// status of every response, keeps the API key out of every error and off
// every other host, and marks errors that say the server cannot be reached
// (bi.ErrUnreachable).
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/secrets"
)

// maxErrorBody bounds how much of an error response is read; secrets are
// masked in all of it before it is cut to secrets.MaxText.
const maxErrorBody = 64 << 10

// Client talks to one BI server.
type Client struct {
	base       *url.URL
	http       *http.Client
	limiter    *rate.Limiter
	authHeader string
	authValue  string
	// readAttempts is how often an idempotent request (GET) is tried before
	// its error is returned. Writes are tried once: a write that timed out
	// may have been applied, and retrying it would misreport the outcome.
	readAttempts int
}

// Options configures a Client.
type Options struct {
	BaseURL string
	// AuthHeader and AuthValue are sent on every request to BaseURL's
	// origin (never to another host after a redirect); Secret is the key
	// inside AuthValue, masked in every error text (package secrets).
	AuthHeader, AuthValue, Secret string
	Timeout                       time.Duration
	// Rate is the request ceiling per second over all requests of this
	// client; 0 means no limit. Burst is the limiter's bucket size.
	Rate  float64
	Burst int
	// MaxConns is the number of connections kept open for reuse; set it to
	// the concurrency so parallel workers do not churn connections.
	MaxConns     int
	ReadAttempts int
}

// New checks opts and returns a Client.
func New(opts Options) (*Client, error) {
	secrets.Register(opts.Secret)
	u, err := secrets.CheckURL(strings.TrimRight(opts.BaseURL, "/"), "$BEAMETRICS_BI_API_KEY or a profile's api_key")
	if err != nil {
		return nil, fmt.Errorf("bad server URL: %w (want http(s)://host[:port][/path])", err)
	}
	if opts.Timeout <= 0 {
		return nil, errors.New("request timeout must be positive")
	}
	if opts.Rate < 0 {
		return nil, fmt.Errorf("rate %v must not be negative (0 means unlimited)", opts.Rate)
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if opts.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(opts.Rate), max(opts.Burst, 1))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(opts.MaxConns, 2)
	tr.MaxIdleConns = max(opts.MaxConns, 100)
	return &Client{
		base:         u,
		http:         &http.Client{Transport: tr, Timeout: opts.Timeout, CheckRedirect: secrets.CheckRedirect},
		limiter:      lim,
		authHeader:   opts.AuthHeader,
		authValue:    opts.AuthValue,
		readAttempts: max(opts.ReadAttempts, 1),
	}, nil
}

// BaseURL returns the server URL without credentials.
func (c *Client) BaseURL() string { return c.base.String() }

// StatusError is a response with a 4xx or 5xx status. Body is the
// server's answer, masked and cut (secrets.Untrusted).
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

// Is makes a gateway's 502, 503 and 504 (the server behind it is gone or
// not answering) match bi.ErrUnreachable.
func (e *StatusError) Is(target error) bool {
	return target == bi.ErrUnreachable && (e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout)
}

func (e *StatusError) Error() string {
	body := strings.TrimSpace(e.Body)
	if body == "" {
		body = "(empty body)"
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), body)
}

// StatusOf returns the HTTP status inside err, or 0.
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// Do sends one request with body (JSON-encoded unless nil) and decodes a 2xx
// response into out (unless nil).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("%s %s: encoding request: %w", method, path, err)
		}
	}
	attempts := 1
	if method == http.MethodGet {
		attempts = c.readAttempts
	}
	var err error
	for try := 1; try <= attempts; try++ {
		if try > 1 {
			// Short pause so a briefly overloaded server can recover.
			select {
			case <-ctx.Done():
				return c.scrub(err)
			case <-time.After(time.Duration(try-1) * 200 * time.Millisecond):
			}
		}
		err = c.once(ctx, method, path, query, payload, out)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return c.scrub(err)
}

func retryable(err error) bool {
	s := StatusOf(err)
	if s != 0 {
		return s >= 500 || s == http.StatusTooManyRequests
	}
	// Transport errors and timeouts: the read can simply be tried again.
	return true
}

func (c *Client) once(ctx context.Context, method, path string, query url.Values, payload []byte, out any) error {
	if err := c.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set(c.authHeader, c.authValue)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		var re *secrets.RedirectError
		switch {
		case errors.As(err, &re):
			return fmt.Errorf("%s %s: %w", method, path, re)
		case errors.As(err, &ue) && ue.Timeout():
			return &maskedError{msg: fmt.Sprintf("%s %s: timed out after %v", method, path, c.http.Timeout), unreachable: true}
		}
		return &maskedError{msg: fmt.Sprintf("%s %s: %s", method, path, secrets.Redact(err.Error())), unreachable: true}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: secrets.Untrusted(b)}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return &maskedError{msg: fmt.Sprintf("%s %s: timed out reading the response after %v", method, path, c.http.Timeout), unreachable: true}
		}
		return fmt.Errorf("%s %s: HTTP %d but the body is not the expected JSON: %w", method, path, resp.StatusCode, err)
	}
	return nil
}

// scrub masks every secret of the process in err's text, whatever
// produced it, keeping what errors.Is and errors.As find in it.
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	var se *StatusError
	if errors.As(err, &se) {
		cp := *se
		cp.Body = secrets.Redact(cp.Body)
		cp.Path = secrets.Redact(cp.Path)
		return &cp
	}
	if msg := secrets.Redact(err.Error()); msg != err.Error() {
		return &maskedError{msg: msg, unreachable: errors.Is(err, bi.ErrUnreachable)}
	}
	return err
}

// maskedError is an error whose text has every secret masked; it says
// whether the server was unreachable, and holds nothing else of its cause.
type maskedError struct {
	msg         string
	unreachable bool
}

func (e *maskedError) Error() string { return e.msg }

func (e *maskedError) Is(target error) bool { return e.unreachable && target == bi.ErrUnreachable }
