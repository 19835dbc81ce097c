package secrets

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// userinfoRE finds user[:password]@ after a scheme, for text that does not
// parse as a URL (url.Parse quotes its input in its own errors).
var userinfoRE = regexp.MustCompile(`(//)[^/?#@\s]*@`)

// URL returns raw fit to print: the password of a user:password@ part is
// masked, and text that is not a URL has its whole user part masked. Query
// values are kept: they are the user's own text.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Redact(userinfoRE.ReplaceAllString(raw, "${1}"+Mask+"@"))
	}
	return Redact(u.Redacted())
}

// ErrUserinfo is returned for URLs that carry user:password@: credentials
// in a URL end up in shell history, ps output and logs.
var ErrUserinfo = errors.New("credentials in the URL are refused")

// CheckURL parses an http(s) URL that will receive credentials. It refuses
// user info (pointing to passwordHint, where the password belongs) and
// anything but an absolute http or https URL. Its errors never quote a
// password.
func CheckURL(raw, passwordHint string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL", URL(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: %w; give the user and password with %s", URL(raw), ErrUserinfo, passwordHint)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s must be an absolute http or https URL", URL(raw))
	}
	return u, nil
}

// RedirectError is a redirect not followed because it leaves the origin the
// credentials were configured for.
type RedirectError struct{ From, To string }

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirected from %s to %s: not followed, because credentials are only sent to the configured host (give the new address if it is the right server)", e.From, e.To)
}

// CheckRedirect is an http.Client.CheckRedirect that follows redirects only
// within the first request's origin (same host and port, same scheme or
// http to https), so no credential header, whatever its name, reaches
// another host or travels unencrypted after starting encrypted.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if from, to := via[0].URL, req.URL; !SameOrigin(from, to) {
		return &RedirectError{From: origin(from), To: origin(to)}
	}
	return nil
}

// SameOrigin reports whether u is at the origin of base, under the rules of
// CheckRedirect.
func SameOrigin(base, u *url.URL) bool {
	return strings.EqualFold(base.Host, u.Host) && (base.Scheme == u.Scheme || base.Scheme == "http" && u.Scheme == "https")
}

// origin is scheme://host[:port], without path or query, which may carry
// tokens.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }
