package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/jobs/bi/httpapi"
	"github.com/beametrics/beametrics/internal/jobs/bi/metabase"
	"github.com/beametrics/beametrics/internal/jobs/bi/redash"
)

// Environment variables read for the connection.
const (
	envURL      = "BEAMETRICS_BI_URL"
	envKey      = "BEAMETRICS_BI_API_KEY"
	envProvider = "BEAMETRICS_BI_PROVIDER"
)

// Defaults of the bulk-safety and speed flags, also named in docs/bi.md.
// The --rate defaults allow the same 500 query writes per second on both
// tools: a Metabase write is two requests, the conflict-check re-read and
// the write, because Metabase has no version lock.
const (
	DefaultRateRedash   = 500.0
	DefaultRateMetabase = 1000.0
	DefaultConcurrency  = 8
	DefaultTimeout      = 30 * time.Second
	DefaultMaxChanges   = 100
)

// connFlags are the connection flags every subcommand takes.
type connFlags struct {
	provider, url, profile string
	timeout                time.Duration
	rate                   rateFlag
	concurrency            int
}

// rateFlag is --rate; when not given, the provider's default applies.
type rateFlag struct {
	perSecond float64
	set       bool
}

func (r *rateFlag) String() string {
	if r == nil || !r.set {
		return ""
	}
	return strconv.FormatFloat(r.perSecond, 'g', -1, 64)
}

func (r *rateFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) {
		return errors.New("not a number")
	}
	r.perSecond, r.set = v, true
	return nil
}

// DefaultRate is the --rate used with provider when the flag is not given.
func DefaultRate(provider string) float64 {
	if provider == "metabase" {
		return DefaultRateMetabase
	}
	return DefaultRateRedash
}

// rateFor is the request ceiling per second for provider.
func (c *connFlags) rateFor(provider string) float64 {
	if c.rate.set {
		return c.rate.perSecond
	}
	return DefaultRate(provider)
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.provider, "provider", "", "BI tool: redash or metabase (else $"+envProvider+", else the profile)")
	fs.StringVar(&c.url, "url", "", "server base URL (else $"+envURL+", else the profile)")
	fs.StringVar(&c.profile, "profile", "", "profile file (JSON, mode 0600) with provider, url, api_key; default $XDG_CONFIG_HOME/beametrics/bi.json or ~/.config/beametrics/bi.json when it exists")
	fs.DurationVar(&c.timeout, "timeout", DefaultTimeout, "timeout of each HTTP request")
	fs.Var(&c.rate, "rate", fmt.Sprintf("at most this many requests per second, all requests counted; 0 for no limit (default %g for redash, %g for metabase, whose writes are two requests each)", DefaultRateRedash, DefaultRateMetabase))
	fs.IntVar(&c.concurrency, "concurrency", DefaultConcurrency, "requests in flight at once")
}

// profile is the profile file's content.
type profile struct {
	Provider string `json:"provider"`
	URL      string `json:"url"`
	APIKey   string `json:"api_key"`
}

// settings is the resolved connection; apiKey is never printed.
type settings struct {
	provider, url, apiKey string
}

// configError is a usage or configuration problem: exit code 2.
type configError struct{ msg string }

func (e configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return configError{fmt.Sprintf(format, args...)}
}

// loadProfile reads a profile file, refusing one that group or others can
// read: it holds an API key.
func loadProfile(path string) (profile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return profile{}, configErrorf("profile: %v", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return profile{}, configErrorf("profile %s has mode %04o; it holds an API key, so group and others must have no access: run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return profile{}, configErrorf("profile: %v", err)
	}
	var p profile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		// The decoder's message quotes no values, so no key can leak here.
		return profile{}, configErrorf("profile %s: not a valid profile (want JSON with provider, url, api_key): %v", path, err)
	}
	return p, nil
}

// resolve merges flags, environment and profile, in that order of
// priority, and checks the result.
func (c *connFlags) resolve(getenv func(string) string) (settings, error) {
	s, err := c.merge(getenv)
	if err != nil {
		return s, err
	}
	return s, c.validate(s)
}

// merge merges flags, environment and profile without checking.
func (c *connFlags) merge(getenv func(string) string) (settings, error) {
	path := c.profile
	if path == "" {
		dir := getenv("XDG_CONFIG_HOME")
		if dir == "" && getenv("HOME") != "" {
			dir = filepath.Join(getenv("HOME"), ".config")
		}
		if dir != "" {
			if _, err := os.Stat(filepath.Join(dir, "beametrics", "bi.json")); err == nil {
				path = filepath.Join(dir, "beametrics", "bi.json")
			}
		}
	}
	var p profile
	if path != "" {
		var err error
		if p, err = loadProfile(path); err != nil {
			return settings{}, err
		}
	}
	pick := func(flagVal, env, prof string) string {
		if flagVal != "" {
			return flagVal
		}
		if v := getenv(env); v != "" {
			return v
		}
		return prof
	}
	s := settings{
		provider: pick(c.provider, envProvider, p.Provider),
		url:      pick(c.url, envURL, p.URL),
		apiKey:   pick("", envKey, p.APIKey),
	}
	return s, nil
}

func (c *connFlags) validate(s settings) error {
	where := func(flagName, env, field string) string {
		w := "$" + env + " or \"" + field + "\" in a profile"
		if flagName != "" {
			w = "--" + flagName + ", " + w
		}
		return w
	}
	switch {
	case s.provider == "":
		return configErrorf("no BI provider given: set %s", where("provider", envProvider, "provider"))
	case s.provider != "redash" && s.provider != "metabase":
		return configErrorf("unknown provider %q: want redash or metabase", s.provider)
	case s.url == "":
		return configErrorf("no server URL given: set %s", where("url", envURL, "url"))
	case s.apiKey == "":
		return configErrorf("no API key given: set %s (there is no flag, so the key stays out of shell history and ps)", where("", envKey, "api_key"))
	}
	if c.concurrency < 1 {
		return configErrorf("--concurrency must be at least 1, not %d", c.concurrency)
	}
	if c.rate.perSecond < 0 {
		return configErrorf("--rate must be 0 (no limit) or positive, not %v", c.rate.perSecond)
	}
	if c.timeout <= 0 {
		return configErrorf("--timeout must be positive, not %v", c.timeout)
	}
	return nil
}

// connect builds the provider client.
func (c *connFlags) connect(s settings) (bi.Provider, error) {
	opts := httpapi.Options{
		BaseURL: s.url, Timeout: c.timeout, Rate: c.rateFor(s.provider), Burst: c.concurrency,
		MaxConns: c.concurrency, ReadAttempts: 3,
	}
	var (
		p   bi.Provider
		err error
	)
	switch s.provider {
	case "redash":
		p, err = redash.New(opts, s.apiKey)
	case "metabase":
		p, err = metabase.New(opts, s.apiKey)
	default:
		err = errors.New("unknown provider " + s.provider)
	}
	if err != nil {
		return nil, configError{err.Error()}
	}
	return p, nil
}
