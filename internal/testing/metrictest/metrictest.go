// Package metrictest builds metric values for the exporters' tests.
package metrictest

import "github.com/beametrics/beametrics/internal/metricdata"

// Labels turns name, value, name, value, ... into labels, in that order;
// an odd count panics, as a mistyped test should.
func Labels(kv ...string) []metricdata.Label {
	var ls []metricdata.Label
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, metricdata.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}
