package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/testing/bifake"
	"github.com/beametrics/beametrics/internal/testing/golden"
)

const testKey = "s3cr3t-api-key-do-not-print"

// run is one command's result.
type run struct {
	code           int
	stdout, stderr string
}

// runBI runs `beametrics bi args` against url with the test key in the
// environment and a HOME with no profile.
func runBI(t testing.TB, ctx context.Context, provider, url string, args ...string) run {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{
		"BEAMETRICS_BI_PROVIDER": provider,
		"BEAMETRICS_BI_URL":      url,
		"BEAMETRICS_BI_API_KEY":  testKey,
		"HOME":                   home,
	}
	var out, errs bytes.Buffer
	code := Main(ctx, args, Env{
		Stdout: &out, Stderr: &errs, Getenv: func(k string) string { return env[k] },
		Now: func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) },
	})
	r := run{code, out.String(), errs.String()}
	if strings.Contains(r.stdout+r.stderr, testKey) {
		t.Errorf("the API key appears in the output of %q", args)
	}
	return r
}

// seeded gives srv the queries bifake.Generate(n, archivedEvery) and stops
// it when the test ends; it returns srv and the queries.
func seeded[F interface {
	Seed([]bifake.Query)
	Close()
}](t testing.TB, srv F, n, archivedEvery int) (F, []bifake.Query) {
	t.Cleanup(srv.Close)
	seed := bifake.Generate(n, archivedEvery)
	srv.Seed(seed)
	return srv, seed
}

// backupPath returns the backup file a run printed.
func backupPath(t testing.TB, stdout string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^backup: (.+)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no backup line in output:\n%.2000s", stdout)
	}
	return m[1]
}

// checkGolden compares got with ../testdata/name, or rewrites it with
// -update-golden.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("..", "testdata", name), []byte(got))
}

// noKeyInFiles fails when any file under dir contains the API key.
func noKeyInFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(testKey)) {
			t.Errorf("%s contains the API key", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func regexpMust(expr string) *regexp.Regexp { return regexp.MustCompile(expr) }
