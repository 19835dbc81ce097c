package metricagg

// SetRoundBytes sets the replay's round size for a test and returns the
// function that puts it back.
func SetRoundBytes(n int64) (restore func()) {
	old := roundBytes
	roundBytes = n
	return func() { roundBytes = old }
}
