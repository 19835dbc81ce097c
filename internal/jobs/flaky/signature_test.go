package flaky

import "testing"

// Each group holds messages of one cause as they appear in real Airflow,
// Kubernetes and BigQuery failures; every message in a group must get the
// group's signature, and groups must not collide.
func TestSignatureFoldsSameCauseTogether(t *testing.T) {
	groups := []struct {
		want     string
		messages []string
	}{
		{
			want: "Pod ephemeral local storage usage exceeds the total limit of containers <n>Mi.",
			messages: []string{
				"Pod ephemeral local storage usage exceeds the total limit of containers 5119Mi.",
				"[2024-05-01, 03:12:44 UTC] {pod_manager.py:412} ERROR - Pod ephemeral local storage usage exceeds the total limit of containers 5119Mi.",
			},
		},
		{
			want: "Pod <pod> was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: <n>Gi, available: <n>Ki.",
			messages: []string{
				"Pod airflow/etl-load-events-x7k2m9qp was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 8123456Ki.",
				"Pod airflow/etl-load-events-q2w8zz1m was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 7001232Ki.",
			},
		},
		{
			want: "airflow.exceptions.AirflowException: Pod launching failed: Pod <pod> returned a failure: Evicted",
			messages: []string{
				"airflow.exceptions.AirflowException: Pod launching failed: Pod airflow-worker-7d9f8b6c5-x2k4p returned a failure: Evicted",
				"airflow.exceptions.AirflowException: Pod launching failed: Pod airflow-worker-5c8d7b9f4-m9n2q returned a failure: Evicted",
			},
		},
		{
			want: "google.api_core.exceptions.BadRequest: <n> Resources exceeded during query execution: Not enough resources for query planning. Job ID: <job>",
			messages: []string{
				"google.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution: Not enough resources for query planning. Job ID: airflow_1714532400_5e2f1c0a9b8d7e6f",
				"google.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution: Not enough resources for query planning. Job ID: 3f2b9c1e-8d4a-4b6f-9e0c-1a2b3c4d5e6f",
			},
		},
		{
			want: "BigQuery job failed. Error was: Quota exceeded, job <job>",
			messages: []string{
				"BigQuery job failed. Error was: Quota exceeded, job acme-data:US.bquxjob_5e2f1c0a_18c5a7b9f00",
				"BigQuery job failed. Error was: Quota exceeded, job acme-data:EU.airflow_load_2024_05_01T00_00_00_00_00_9a8b7c6d",
			},
		},
		{
			want: "airflow.exceptions.AirflowTaskTimeout: Timeout, PID: <n>",
			messages: []string{
				"airflow.exceptions.AirflowTaskTimeout: Timeout, PID: 4242",
				"airflow.exceptions.AirflowTaskTimeout: Timeout, PID: 17",
			},
		},
		{
			want: "TimeoutError: operation timed out after <n> seconds",
			messages: []string{
				"TimeoutError: operation timed out after 3600.5 seconds",
				"TimeoutError: operation timed out after 120 seconds",
			},
		},
		{
			want: "FileNotFoundError: [Errno <n>] No such file or directory: '/tmp/<path>'",
			messages: []string{
				"FileNotFoundError: [Errno 2] No such file or directory: '/tmp/tmpa1b2c3d4/extract/part-00003.csv'",
				"FileNotFoundError: [Errno 2] No such file or directory: '/tmp/airflowtmpq_9xk2m1/extract/part-00011.csv'",
			},
		},
		{
			want: "psycopg2.OperationalError: connection to server at \"<ip>\", port <n> failed: Connection refused",
			messages: []string{
				`psycopg2.OperationalError: connection to server at "10.12.0.7", port 5432 failed: Connection refused`,
				`psycopg2.OperationalError: connection to server at "10.12.3.19", port 5432 failed: Connection refused`,
			},
		},
		{
			want: "Task received SIGTERM signal at <ts>; object <hex> id <uuid>",
			messages: []string{
				"Task received SIGTERM signal at 2024-05-01T03:00:01.123456+00:00; object 0x7f3a2c1b9e80 id 123e4567-e89b-12d3-a456-426614174000",
				"Task received SIGTERM signal at 2024-06-11 23:59:59,999; object 0x7f00deadbeef id 9b2e0c4a-1f3d-4e5a-8b7c-6d5e4f3a2b1c",
			},
		},
		{
			want: "google.api_core.exceptions.NotFound: <n> Not found: Table acme-data:staging.events_<n> was not found in location US",
			messages: []string{
				// The first two are log tails: the exception line wins over the
				// Airflow bookkeeping lines around it.
				"[2024-05-01, 03:12:44 UTC] {taskinstance.py:2698} ERROR - Task failed with exception\nTraceback (most recent call last):\n  File \"/opt/airflow/dags/load.py\", line 88, in load\ngoogle.api_core.exceptions.NotFound: 404 Not found: Table acme-data:staging.events_20240501 was not found in location US\n[2024-05-01, 03:12:45 UTC] {taskinstance.py:1138} INFO - Marking task as UP_FOR_RETRY. dag_id=etl, task_id=load, execution_date=20240501T000000",
				"google.api_core.exceptions.NotFound: 404 Not found: Table acme-data:staging.events_20240502 was not found in location US\n[2024-05-02, 03:12:45 UTC] {local_task_job_runner.py:234} INFO - Task exited with return code 1",
				"google.api_core.exceptions.NotFound: 404 Not found: Table acme-data:staging.events_20240503 was not found in location US",
			},
		},
		{
			want: "RuntimeError: Dataproc cluster etl-nightly-<id> is in state ERROR",
			messages: []string{
				"RuntimeError: Dataproc cluster etl-nightly-7f3k9q2m is in state ERROR",
				"RuntimeError: Dataproc cluster etl-nightly-a81zq0c4 is in state ERROR",
			},
		},
		{want: NoMessage, messages: []string{"", "  \n \n"}},
	}
	seen := map[string]int{}
	for gi, g := range groups {
		for _, m := range g.messages {
			if got := Signature(m); got != g.want {
				t.Errorf("Signature(%q)\n got  %q\n want %q", m, got, g.want)
			}
		}
		if prev, dup := seen[g.want]; dup {
			t.Errorf("groups %d and %d share signature %q", prev, gi, g.want)
		}
		seen[g.want] = gi
	}
}

func TestSignatureKeepsDifferentCausesApart(t *testing.T) {
	pairs := [][2]string{
		{"Pod ephemeral local storage usage exceeds the total limit of containers 5119Mi.",
			"The node was low on resource: memory. Container base was using 5300Mi, which exceeds its request of 0."},
		{"google.api_core.exceptions.Forbidden: 403 Quota exceeded: Your project exceeded quota for free query bytes scanned.",
			"google.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution."},
		{"dbt run failed: model orders_daily", "dbt run failed: model customers_daily"},
	}
	for _, p := range pairs {
		if a, b := Signature(p[0]), Signature(p[1]); a == b {
			t.Errorf("different causes share signature %q:\n %q\n %q", a, p[0], p[1])
		}
	}
}

func TestSignatureIsBounded(t *testing.T) {
	long := "ValueError: " + string(make([]byte, 0))
	for i := 0; i < 500; i++ {
		long += "column x is bad; "
	}
	if n := len([]rune(Signature(long))); n > maxSignatureRunes+1 {
		t.Errorf("signature has %d runes, want at most %d", n, maxSignatureRunes+1)
	}
}
