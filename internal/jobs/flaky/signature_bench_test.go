package flaky

import "testing"

func BenchmarkSignature(b *testing.B) {
	msgs := []string{
		"Pod airflow/etl-load-events-x7k2m9qp was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 8123456Ki.",
		"[2024-05-01, 03:12:44 UTC] {taskinstance.py:2698} ERROR - Task failed with exception\nTraceback (most recent call last):\n  File \"/opt/airflow/dags/load.py\", line 88, in load\ngoogle.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution. Job ID: airflow_1714532400_5e2f1c0a9b8d7e6f\n[2024-05-01, 03:12:45 UTC] {taskinstance.py:1138} INFO - Marking task as UP_FOR_RETRY.",
		"FileNotFoundError: [Errno 2] No such file or directory: '/tmp/tmpa1b2c3d4/extract/part-00003.csv'",
	}
	for i := 0; i < b.N; i++ {
		if Signature(msgs[i%len(msgs)]) == "" {
			b.Fatal("empty signature")
		}
	}
}
