package flaky

import (
	"regexp"
	"strings"
)

// Cause is a known reason for a failed try, recognised anywhere in its log
// tail (the pod's status dumped by KubernetesPodOperator, a Kubernetes
// event, a BigQuery error), before the last-error-line heuristic: the last
// line of such a tail only says that the pod "returned a failure".
type Cause struct {
	// Name is stable, for scripts: "ephemeral-storage-eviction".
	Name string `json:"name"`
	// Label is what the report prints.
	Label string `json:"label"`
	// Advice says what to do about it.
	Advice string `json:"advice"`
	re     *regexp.Regexp
}

// Causes are tried in order on every line of a tail; the first cause with a
// matching line wins. Specific causes come first: an evicted pod's
// container also exits 137, and a pod dump names resources such as
// 'ephemeral-storage' in its limits, so the patterns match the messages of
// the failure itself, not the words.
var Causes = []Cause{
	{Name: "ephemeral-storage-eviction", Label: "evicted: ephemeral storage over its limit",
		Advice: "raise the ephemeral-storage request and limit of the task's pod (KubernetesPodOperator container_resources), or move scratch data off the pod's disk (a mounted volume, or GCS)",
		re:     regexp.MustCompile(`(?i)ephemeral local storage usage exceeds|exceeded its local ephemeral storage limit|usage of emptydir volume .* exceeds`)},
	{Name: "memory-pressure-eviction", Label: "evicted: node low on memory",
		Advice: "the node ran out of memory, not the pod's limit: set the pod's memory request equal to its limit so it is evicted last, or run it on a node pool with more memory",
		re:     regexp.MustCompile(`(?i)low on resource: memory|\bMemoryPressure\b`)},
	{Name: "disk-pressure-eviction", Label: "evicted: node low on disk (ephemeral-storage)",
		Advice: "the node's disk filled up, and pods using more ephemeral storage than they request go first: set the task pod's ephemeral-storage request to what it writes, or move scratch data off the pod's disk (a mounted volume, or GCS)",
		re:     regexp.MustCompile(`(?i)low on resource: (?:ephemeral-storage|nodefs|imagefs)|\bDiskPressure\b`)},
	{Name: "node-preemption", Label: "node preempted or shut down",
		Advice: "the node was preempted or shut down (spot or preemptible VMs, upgrades): run the task on a standard node pool, or keep the retries and make sure the task is safe to rerun",
		re:     regexp.MustCompile(`(?i)\bpreempted\b|\bpreempting\b|imminent node shutdown|node is shutting down|\bNodeShutdown\b|\bnode shutdown\b`)},
	{Name: "eviction", Label: "evicted (no reason in the log)",
		Advice: "read the pod's events (kubectl describe pod, or the Kubernetes event log) for why it was evicted",
		re:     regexp.MustCompile(`(?i)\bevicted\b`)},
	{Name: "oom-killed", Label: "OOMKilled: container over its memory limit",
		Advice: "raise the container's memory limit (and request), or make the task hold less in memory (process in chunks, stream instead of loading)",
		re:     regexp.MustCompile(`(?i)\boomkill|out of memory: kill`)},
	{Name: "exit-137", Label: "killed with exit code 137 (SIGKILL)",
		Advice: "the container got SIGKILL without an OOMKilled reason in the log: usually memory (check the container's memory and the node's), or the pod was deleted; read the pod's events",
		re:     regexp.MustCompile(`(?i)exit[ _-]?(?:code|status)['":=\s]*137\b|non-zero exit status 137\b`)},
	{Name: "image-pull", Label: "image pull failed",
		Advice: "check that the image name and tag exist and that the node's service account may pull them (Artifact Registry reader); pin images by digest",
		re:     regexp.MustCompile(`\bErrImagePull\b|\bImagePullBackOff\b|(?i)failed to pull image|\bInvalidImageName\b|\bErrImageNeverPull\b`)},
	{Name: "bigquery-quota", Label: "BigQuery quota or rate limit",
		Advice: "spread the load: fewer concurrent BigQuery tasks (an Airflow pool), retries with exponential backoff (retry_exponential_backoff=True), fewer table updates per table, or more quota",
		re:     regexp.MustCompile(`(?i)\bquotaExceeded\b|\brateLimitExceeded\b|quota exceeded|exceeded rate limits|exceeded quota`)},
	{Name: "timeout", Label: "timed out",
		Advice: "find out what it waited for (a slow query, a lock, a pod that could not start); raise execution_timeout only if the work really grew",
		re:     regexp.MustCompile(`(?i)\bAirflowTaskTimeout\b|timed out|\bTimeoutError\b|deadline ?exceeded|took longer than \d+ seconds to start|timeout expired`)},
}

// maxEvidenceRunes bounds the evidence line; pod dumps are one long line,
// so a window around the match is shown.
const maxEvidenceRunes = 240

// ClassifyCause finds the first known cause in a failure message or log
// tail and the line that shows it (around the match, when the line is
// long). It returns nil when no known cause appears.
func ClassifyCause(message string) (*Cause, string) {
	if message == "" {
		return nil, ""
	}
	lines := strings.Split(message, "\n")
	for i := range Causes {
		c := &Causes[i]
		for _, l := range lines {
			if c.re.MatchString(l) {
				return c, evidence(c.re, l)
			}
		}
	}
	return nil, ""
}

// CauseByName returns the cause with that name, or nil.
func CauseByName(name string) *Cause {
	for i := range Causes {
		if Causes[i].Name == name {
			return &Causes[i]
		}
	}
	return nil
}

func evidence(re *regexp.Regexp, line string) string {
	l := strings.TrimSpace(line)
	if strings.HasPrefix(l, "[") {
		l = airflowLogPrefix.ReplaceAllString(l, "")
	}
	loc := re.FindStringIndex(l)
	if loc == nil {
		loc = []int{0, 0} // the match was in the removed prefix
	}
	r := []rune(l)
	if len(r) <= maxEvidenceRunes {
		return l
	}
	// Rune positions of the match, then a window that shows it with some
	// context on both sides.
	start := len([]rune(l[:loc[0]]))
	from := max(start-80, 0)
	to := min(from+maxEvidenceRunes, len(r))
	from = max(to-maxEvidenceRunes, 0)
	out := string(r[from:to])
	if from > 0 {
		out = "…" + out
	}
	if to < len(r) {
		out += "…"
	}
	return out
}
