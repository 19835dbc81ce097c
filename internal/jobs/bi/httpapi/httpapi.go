// Package httpapi is the small JSON-over-HTTP client the BI providers share:
// one place that authenticates, rate-limits, retries safe reads, checks the
// status of every response and keeps the API key out of every error.
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
)

// maxErrorBody bounds how much of an error response is quoted in an error.
const maxErrorBody = 2048

// Client talks to one BI server.
type Client struct {
	base       *url.URL
	http       *http.Client
	limiter    *rate.Limiter
	authHeader string
	authValue  string
	secret     string
	// readAttempts is how often an idempotent request (GET) is tried before
	// its error is returned. Writes are tried once: a write that timed out
	// may have been applied, and retrying it would misreport the outcome.
	readAttempts int
}

// Options configures a Client.
type Options struct {
	BaseURL string
	// AuthHeader and AuthValue are sent on every request; Secret is the key
	// inside AuthValue, scrubbed from every error text.
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
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("bad server URL %q: %v", opts.BaseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("bad server URL %q: want http(s)://host[:port][/path]", opts.BaseURL)
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
		http:         &http.Client{Transport: tr, Timeout: opts.Timeout},
		limiter:      lim,
		authHeader:   opts.AuthHeader,
		authValue:    opts.AuthValue,
		secret:       opts.Secret,
		readAttempts: max(opts.ReadAttempts, 1),
	}, nil
}

// BaseURL returns the server URL without credentials.
func (c *Client) BaseURL() string { return c.base.String() }

// StatusError is a response with a 4xx or 5xx status.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
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
			return fmt.Errorf("%s %s: encoding request: %v", method, path, err)
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
		return fmt.Errorf("%s %s: %v", method, path, err)
	}
	req.Header.Set(c.authHeader, c.authValue)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return fmt.Errorf("%s %s: timed out after %v", method, path, c.http.Timeout)
		}
		return fmt.Errorf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s %s: timed out reading the response after %v", method, path, c.http.Timeout)
		}
		return fmt.Errorf("%s %s: HTTP %d but the body is not the expected JSON: %v", method, path, resp.StatusCode, err)
	}
	return nil
}

// scrub removes the API key from err's text, whatever produced it.
func (c *Client) scrub(err error) error {
	if err == nil || c.secret == "" || !strings.Contains(err.Error(), c.secret) {
		return err
	}
	var se *StatusError
	if errors.As(err, &se) {
		cp := *se
		cp.Body = strings.ReplaceAll(cp.Body, c.secret, "[redacted]")
		cp.Path = strings.ReplaceAll(cp.Path, c.secret, "[redacted]")
		return &cp
	}
	return errors.New(strings.ReplaceAll(err.Error(), c.secret, "[redacted]"))
}
