package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestShellScriptsPassShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck is not installed (Debian package shellcheck): deploy/*.sh and internal/bench/*.sh not checked")
	}
	deploy, _ := filepath.Glob("*.sh")
	bench, _ := filepath.Glob("../internal/bench/*.sh")
	files := append(deploy, bench...)
	if len(deploy) < 3 || len(bench) < 2 {
		t.Fatalf("expected deploy/build-template.sh, deploy/run-template.sh, deploy/build-linux-amd64.sh and internal/bench/*.sh, found %v", files)
	}
	out, err := exec.Command(sc, files...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %v: %v\n%s", files, err, out)
	}
}

func TestTerraformFormatted(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not installed: deploy/terraform not checked")
	}
	cmd := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", "terraform")
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("terraform fmt -check: %v\n%s", err, out)
	}
}

// TestRunScriptParametersExist checks that every template parameter
// run-template.sh passes is declared in metadata.json.
func TestRunScriptParametersExist(t *testing.T) {
	b, err := os.ReadFile("run-template.sh")
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]bool{}
	for _, p := range loadMetadata(t).Parameters {
		params[p.Name] = true
	}
	used := regexp.MustCompile(`(?:"|~)([a-z][a-z-]*)=\$\{`).FindAllStringSubmatch(string(b), -1)
	if len(used) < 2 {
		t.Fatalf("found only %d parameters in run-template.sh", len(used))
	}
	for _, m := range used {
		if !params[m[1]] {
			t.Errorf("run-template.sh passes parameter %q, which metadata.json does not declare", m[1])
		}
	}
}

// dockerfile returns the Dockerfile's instructions, one per entry, with
// continuation lines joined and comments dropped.
func dockerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		lines []string
		cur   string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	return lines
}

func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	lines := dockerfile(t)
	has := func(re string) []string {
		r := regexp.MustCompile(re)
		for _, l := range lines {
			if m := r.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		return nil
	}
	if m := has(`^ARG GO_VERSION=(\S+)$`); m == nil || m[1] != goModVersion(t) {
		t.Errorf("ARG GO_VERSION = %v, want go.mod's go version %s", m, goModVersion(t))
	}
	if has(`^FROM golang:\$\{GO_VERSION\}(-\S+)? AS build$`) == nil {
		t.Error("the build stage must be FROM golang:${GO_VERSION}... AS build")
	}
	// The build stage runs the CI script itself: same commands, no drift.
	if has(`^RUN deploy/build-linux-amd64\.sh /out/beametrics$`) == nil {
		t.Error("the build stage must RUN deploy/build-linux-amd64.sh /out/beametrics")
	}
	m := has(`^ARG LAUNCHER_IMAGE=gcr\.io/dataflow-templates-base/go-template-launcher-base:(\S+)$`)
	if m == nil || m[1] == "latest" {
		t.Errorf("LAUNCHER_IMAGE must pin a tag of go-template-launcher-base, got %v", m)
	}
	if has(`^FROM \$\{LAUNCHER_IMAGE\}$`) == nil {
		t.Error("the final stage must start FROM ${LAUNCHER_IMAGE}")
	}
	bin := has(`^COPY --from=build /out/beametrics (\S+)$`)
	env := has(`^ENV FLEX_TEMPLATE_GO_BINARY=(\S+)$`)
	if bin == nil || env == nil || bin[1] != env[1] {
		t.Errorf("FLEX_TEMPLATE_GO_BINARY (%v) must name the copied binary (%v)", env, bin)
	}
	if has(`^COPY examples/ /template/examples/$`) == nil {
		t.Error("the examples must be copied to /template/examples/")
	}
	if has(`^(ENTRYPOINT|CMD)`) != nil {
		t.Error("the launcher's entrypoint must be kept: no ENTRYPOINT or CMD")
	}
}

func TestBuildScriptBuildsLinuxAmd64WithoutCgo(t *testing.T) {
	b, err := os.ReadFile("build-linux-amd64.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(string(b), "\\\n", " ")
	if !regexp.MustCompile(`CGO_ENABLED=0 GOOS=linux GOARCH=amd64\s+go build -trimpath `).MatchString(script) {
		t.Error("deploy/build-linux-amd64.sh must run CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath")
	}
	if !strings.Contains(script, `PACKAGE="./cmd/beametrics"`) {
		t.Error("deploy/build-linux-amd64.sh must build ./cmd/beametrics")
	}
}
