// Package secrets keeps credentials inside the process: it remembers every
// secret the process has read, masks them in text that is about to be
// printed or written, makes text from other servers safe to print, and
// refuses redirects that would carry credentials to another host.
//
// The register is process-wide on purpose: a secret read by one component
// (the remote-write exporter's token) must not leave through another (a
// Cloud Monitoring error that happens to quote it).
package secrets

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Mask replaces a secret in redacted text.
const Mask = "[redacted]"

// MaxText is how many bytes of a server's answer are kept in errors, logs
// and dead letters: enough for a message, not enough to fill logs.
const MaxText = 512

var (
	mu       sync.Mutex
	known    = map[string]bool{}
	replacer atomic.Pointer[strings.Replacer]
)

// Register adds secrets to the process's register, with the encodings a
// server may echo them in (URL and JSON escaping). Empty strings are ignored.
func Register(values ...string) {
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, form := range forms(v) {
			if !known[form] {
				known[form] = true
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	all := make([]string, 0, len(known))
	for k := range known {
		all = append(all, k)
	}
	// Longest first: a secret that contains another is masked whole.
	slices.SortFunc(all, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	pairs := make([]string, 0, 2*len(all))
	for _, k := range all {
		pairs = append(pairs, k, Mask)
	}
	replacer.Store(strings.NewReplacer(pairs...))
}

// RegisterBasicAuth registers a basic-auth password and the base64 form of
// user:password that travels in the Authorization header.
func RegisterBasicAuth(user, password string) {
	Register(password, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

func forms(v string) []string {
	out := []string{v, url.QueryEscape(v), url.PathEscape(v)}
	if b, err := json.Marshal(v); err == nil {
		inner := string(b[1 : len(b)-1])
		out = append(out, inner, strings.ReplaceAll(inner, "/", `\/`))
	}
	return out
}

// Redact returns s with every registered secret replaced by Mask.
func Redact(s string) string {
	r := replacer.Load()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// Untrusted makes text from another program (an HTTP error body, an RPC
// status message) fit to print: secrets are masked, control and invisible
// characters become spaces or '?' (no forged log lines, no terminal
// escapes), and it is cut to MaxText bytes, saying how much was cut.
func Untrusted(b []byte) string {
	s := Redact(string(b)) // before cutting: a cut secret would leak its start
	var sb strings.Builder
	for i := 0; i < len(s); {
		if sb.Len() >= MaxText {
			fmt.Fprintf(&sb, "... (%d more bytes)", len(s)-i)
			break
		}
		if strings.HasPrefix(s[i:], Mask) { // never cut inside a mask
			sb.WriteString(Mask)
			i += len(Mask)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			sb.WriteByte('?')
		case unicode.IsSpace(r):
			sb.WriteByte(' ')
		case !unicode.IsPrint(r):
			sb.WriteByte('?')
		default:
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

// ReadFile reads a secret from a file, without its trailing newline, and
// registers it. An empty file is an error.
func ReadFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	Register(s)
	return s, nil
}
