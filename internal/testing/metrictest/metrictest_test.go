package metrictest

import (
	"reflect"
	"testing"

	"github.com/beametrics/beametrics/internal/metricdata"
)

func TestLabels(t *testing.T) {
	want := []metricdata.Label{{Name: "method", Value: "GET"}, {Name: "host", Value: "a"}}
	if got := Labels("method", "GET", "host", "a"); !reflect.DeepEqual(got, want) {
		t.Errorf("Labels = %v, want %v", got, want)
	}
	if got := Labels(); got != nil {
		t.Errorf("Labels() = %v, want nil", got)
	}
}
