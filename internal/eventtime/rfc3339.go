package eventtime

// parseRFC3339 reads the common shape of RFC 3339 timestamps in logs,
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), straight into Unix
// nanoseconds; it is several times faster than time.Parse, which handles
// every other shape (ok is false here for anything unusual).
// A nil m is allowed; with one, the date and minute of the last time read
// are remembered, and a time in the same minute skips reading them again.
func parseRFC3339(b []byte, m *minuteCache) (ns int64, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var minuteSecs int64 // Unix seconds at the minute, before the offset
	if m.set && string(b[:16]) == string(m.prefix[:]) {
		minuteSecs = m.secs
	} else {
		year, ok1 := num(b[0:4])
		month, ok2 := num(b[5:7])
		day, ok3 := num(b[8:10])
		hour, ok4 := num(b[11:13])
		minute, ok5 := num(b[14:16])
		if !(ok1 && ok2 && ok3 && ok4 && ok5) || month < 1 || month > 12 || day < 1 ||
			day > daysIn(month, year) || hour > 23 || minute > 59 || year < 1970 || year > 2261 {
			return 0, false
		}
		minuteSecs = daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60)
		copy(m.prefix[:], b[:16])
		m.secs, m.set = minuteSecs, true
	}
	sec, ok6 := num(b[17:19])
	if !ok6 || sec > 59 {
		return 0, false
	}
	i := 19
	var frac int64
	if b[i] == '.' {
		i++
		digits := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 9 {
				frac = frac*10 + int64(b[i]-'0')
			}
			digits++
			i++
		}
		if digits == 0 {
			return 0, false
		}
		for d := digits; d < 9; d++ {
			frac *= 10
		}
	}
	var offset int64
	switch {
	case i == len(b)-1 && (b[i] == 'Z' || b[i] == 'z'):
	case i == len(b)-6 && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		oh, okh := num(b[i+1 : i+3])
		om, okm := num(b[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if b[i] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := minuteSecs + int64(sec) - offset
	if secs < 0 || secs > 9_000_000_000 {
		return 0, false // time.Parse and the range check decide
	}
	return secs*1e9 + frac, true
}

// minuteCache remembers the Unix seconds of the date and minute
// (YYYY-MM-DDTHH:MM) of the last RFC 3339 time read.
type minuteCache struct {
	prefix [16]byte
	secs   int64
	set    bool
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the civil-date-to-days algorithm (proleptic Gregorian).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}
