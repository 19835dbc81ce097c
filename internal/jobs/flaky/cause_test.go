package flaky_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/jobs/flaky"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

// kpoTail is a KubernetesPodOperator log tail written for this test: the
// pod's status dumped inline, then the lines Airflow prints, the last one
// being standard_task_runner's "Failed to execute job". The pod's limits
// name ephemeral-storage and its node selector a preemptible pool, which
// must not be taken for causes.
func kpoTail(pod string, job int, containerState, podReason, podMessage string) string {
	return strings.Join([]string{
		"[2024-06-03, 02:14:07 UTC] {pod_manager.py:435} INFO - [base] writing part-00017.parquet to /scratch/out",
		"[2024-06-03, 02:14:55 UTC] {pod.py:1012} INFO - Deleting pod: " + pod,
		"[2024-06-03, 02:14:55 UTC] {pod.py:978} ERROR - Pod " + pod + " returned a failure.",
		"remote_pod: {'api_version': 'v1', 'kind': 'Pod', 'metadata': {'name': '" + pod + "', 'namespace': 'airflow'}, " +
			"'spec': {'containers': [{'name': 'base', 'resources': {'limits': {'ephemeral-storage': '5Gi', 'memory': '4Gi'}, 'requests': {'ephemeral-storage': '2Gi', 'memory': '4Gi'}}}], " +
			"'node_selector': {'cloud.google.com/gke-preemptible': 'true'}}, " +
			"'status': {'message': " + podMessage + ", 'phase': 'Failed', 'reason': " + podReason + ", " +
			"'container_statuses': [{'name': 'base', 'state': {'terminated': " + containerState + "}}]}}",
		"[2024-06-03, 02:14:56 UTC] {taskinstance.py:2905} ERROR - Task failed with exception",
		"airflow.exceptions.AirflowException: Pod " + pod + " returned a failure.",
		fmt.Sprintf("[2024-06-03, 02:14:56 UTC] {standard_task_runner.py:110} ERROR - Failed to execute job %d for task extract (Pod %s returned a failure.; %d)", job, pod, 2800+job%100),
	}, "\n")
}

func evictedTail(pod string, job int) string {
	return kpoTail(pod, job, "{'exit_code': 137, 'reason': 'Error'}", "'Evicted'",
		"'Pod ephemeral local storage usage exceeds the total limit of containers 5Gi. '")
}

func oomTail(pod string, job int) string {
	return kpoTail(pod, job, "{'exit_code': 137, 'reason': 'OOMKilled'}", "None", "None")
}

// TestKubernetesCausesAreToldApart: 4 ephemeral-storage evictions and 4
// OOM kills, whose last lines are all alike, must come out as two causes
// with evidence, and the advice must name the fix.
func TestKubernetesCausesAreToldApart(t *testing.T) {
	var lines []string
	pods := []string{"extract-8d2kq1zn", "extract-q7w2m4xp", "extract-a1b2c3d4", "extract-zz9y8x7w"}
	for i, pod := range pods {
		run := fmt.Sprintf("scheduled__2024-06-0%dT00:00:00+00:00", i+1)
		day := fmt.Sprintf("2024-06-0%d", i+1)
		lines = append(lines,
			try2("extract", run, 1, "up_for_retry", day+"T02:00:00Z", day+"T02:15:00Z", evictedTail(pod, 48200+i)),
			try2("extract", run, 2, "up_for_retry", day+"T02:20:00Z", day+"T02:30:00Z", oomTail(pod+"-r2", 48300+i)),
			try2("extract", run, 3, "success", day+"T02:40:00Z", day+"T02:50:00Z", ""))
	}
	path := filepath.Join(t.TempDir(), "k8s.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain(t, nil, "--format=json", path)
	if code != flaky.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep flaky.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Tasks) != 1 {
		t.Fatalf("tasks %+v", rep.Tasks)
	}
	task := rep.Tasks[0]
	type sig struct {
		signature, cause string
		count            int
	}
	var got []sig
	for _, s := range task.Signatures {
		got = append(got, sig{s.Signature, s.Cause, s.Count})
	}
	want := []sig{
		{"OOMKilled: container over its memory limit", "oom-killed", 4},
		{"evicted: ephemeral storage over its limit", "ephemeral-storage-eviction", 4},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("signatures\n got %v\nwant %v", got, want)
	}
	ev := task.Signatures[1].Evidence
	if !strings.Contains(ev, "'message': 'Pod ephemeral local storage usage exceeds the total limit of containers 5Gi. '") ||
		len([]rune(ev)) > 242 || !strings.HasPrefix(ev, "…") {
		t.Errorf("eviction evidence is not a window around the status message: %q", ev)
	}
	if !strings.Contains(task.Signatures[0].Evidence, "'reason': 'OOMKilled'") {
		t.Errorf("OOM evidence %q", task.Signatures[0].Evidence)
	}
	if len(task.Causes) != 2 || !strings.Contains(task.Causes[1].Advice, "raise the ephemeral-storage request and limit") ||
		!strings.Contains(task.Causes[0].Advice, "memory limit") {
		t.Errorf("causes %+v", task.Causes)
	}

	_, table, _ := runMain(t, nil, path)
	textcheck.Contains(t, "table", table,
		"4x  evicted: ephemeral storage over its limit\n         evidence: …",
		"what to do:\n    - OOMKilled: container over its memory limit (4x): raise the container's memory limit",
		"    - evicted: ephemeral storage over its limit (4x): raise the ephemeral-storage request and limit of the task's pod",
	)
}

func try2(task, run string, n int, state, start, end, msg string) string {
	b, _ := json.Marshal(map[string]any{"dag_id": "etl", "task_id": task, "dag_run_id": run, "try_number": n,
		"state": state, "start_date": start, "end_date": end, "log_tail": msg})
	return string(b)
}

// TestClassifyCause: one hand-written tail per known cause, and tails
// that name no cause.
func TestClassifyCause(t *testing.T) {
	cases := []struct{ tail, cause, evidence string }{
		{"Pod airflow/etl-x7k2m9qp was evicted: The node was low on resource: memory. Threshold quantity: 100Mi, available: 91224Ki.\nFailed to execute job 1 for task t (Pod etl-x7k2m9qp returned a failure.; 7)",
			"memory-pressure-eviction", "Pod airflow/etl-x7k2m9qp was evicted: The node was low on resource: memory. Threshold quantity: 100Mi, available: 91224Ki."},
		{"Warning  Evicted  12s  kubelet  The node had condition: [DiskPressure].",
			"disk-pressure-eviction", "Warning  Evicted  12s  kubelet  The node had condition: [DiskPressure]."},
		{"Pod airflow/etl-9q8w7e6r was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 7001232Ki.",
			"disk-pressure-eviction", "Pod airflow/etl-9q8w7e6r was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 7001232Ki."},
		{"[2024-06-01, 03:00:00 UTC] {pod_manager.py:1} INFO - Container base exceeded its local ephemeral storage limit \"2Gi\".\nERROR - Task failed",
			"ephemeral-storage-eviction", "Container base exceeded its local ephemeral storage limit \"2Gi\"."},
		{"status: {'reason': 'Terminated', 'message': 'Pod was terminated in response to imminent node shutdown.'}",
			"node-preemption", "status: {'reason': 'Terminated', 'message': 'Pod was terminated in response to imminent node shutdown.'}"},
		{"{'reason': 'Evicted', 'message': None}\nAirflowException: Pod returned a failure.",
			"eviction", "{'reason': 'Evicted', 'message': None}"},
		{"subprocess.CalledProcessError: Command '['spark-submit']' returned non-zero exit status 137.",
			"exit-137", "subprocess.CalledProcessError: Command '['spark-submit']' returned non-zero exit status 137."},
		{"Pod etl-a is in state Pending: {'waiting': {'reason': 'ImagePullBackOff', 'message': 'Back-off pulling image \"eu.gcr.io/p/etl:v9\"'}}",
			"image-pull", "Pod etl-a is in state Pending: {'waiting': {'reason': 'ImagePullBackOff', 'message': 'Back-off pulling image \"eu.gcr.io/p/etl:v9\"'}}"},
		{"google.api_core.exceptions.Forbidden: 403 Exceeded rate limits: too many table update operations for this table. reason: rateLimitExceeded",
			"bigquery-quota", "google.api_core.exceptions.Forbidden: 403 Exceeded rate limits: too many table update operations for this table. reason: rateLimitExceeded"},
		{"[2024-06-01, 05:00:00 UTC] {timeout.py:68} ERROR - Process timed out, PID: 4411\nairflow.exceptions.AirflowTaskTimeout: Timeout, PID: 4411",
			"timeout", "Process timed out, PID: 4411"},
	}
	for _, c := range cases {
		got, ev := flaky.ClassifyCause(c.tail)
		if got == nil || got.Name != c.cause || ev != c.evidence {
			name := "<none>"
			if got != nil {
				name = got.Name
			}
			t.Errorf("ClassifyCause(%.50q) = %s, %q; want %s, %q", c.tail, name, ev, c.cause, c.evidence)
		}
	}
	for _, tail := range []string{
		"", "google.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution",
		"spec: {'resources': {'limits': {'ephemeral-storage': '5Gi'}}, 'node_selector': {'cloud.google.com/gke-preemptible': 'true'}, 'timeout_seconds': 30}",
	} {
		if got, _ := flaky.ClassifyCause(tail); got != nil {
			t.Errorf("ClassifyCause(%q) = %s, want no cause", tail, got.Name)
		}
	}
}

// TestFirstSeenIsTheEarliestStart follows the docs: a try without a start
// does not move FIRST SEEN, unless no try of the task has a start.
func TestFirstSeenIsTheEarliestStart(t *testing.T) {
	lines := []string{
		// try 1 has no start and ended at 00:03; try 2 started at 00:05.
		`{"dag_id":"etl","task_id":"a","run_id":"r1","try_number":1,"state":"up_for_retry","start_date":null,"end_date":"2024-05-01T00:03:00Z"}`,
		`{"dag_id":"etl","task_id":"a","run_id":"r1","try_number":2,"state":"success","start_date":"2024-05-01T00:05:00Z","end_date":"2024-05-01T00:09:00Z"}`,
		// no try of b has a start: the earliest end stands in.
		`{"dag_id":"etl","task_id":"b","run_id":"r1","try_number":2,"state":"success","end_date":"2024-05-01T07:30:00Z"}`,
	}
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, errOut := runMain(t, nil, "--format=json", path)
	var rep flaky.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	first := map[string]string{}
	for _, task := range rep.Tasks {
		first[task.TaskID] = task.FirstSeen.Format("15:04")
	}
	if first["a"] != "00:05" || first["b"] != "07:30" {
		t.Errorf("first seen %v, want a 00:05 and b 07:30", first)
	}
}

// TestFlagsAfterFileNames: `flaky FILE --strict` as users type it.
func TestFlagsAfterFileNames(t *testing.T) {
	if code, _, errOut := runMain(t, nil, "testdata/api_tries.jsonl", "--strict"); code != flaky.ExitBadRows {
		t.Errorf("FILE --strict with a bad row: exit %d (%s), want %d", code, errOut, flaky.ExitBadRows)
	}
	if code, out, _ := runMain(t, nil, "testdata/api_tries.jsonl", "--format", "json", "--min-flaky-runs=0"); code != flaky.ExitOK || !strings.HasPrefix(out, "{") {
		t.Errorf("FILE --format json: exit %d, output %.40q", code, out)
	}
}
