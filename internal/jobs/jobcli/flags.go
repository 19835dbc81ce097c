// Package jobcli is the command-line plumbing the side jobs share: flags
// that may follow file names, and the output formats of a report.
package jobcli

import "flag"

// ParseInterspersed parses args with fs but, unlike fs.Parse, lets flags
// follow the positional arguments, as users type them (`flaky FILE
// --strict`). It returns the positional arguments in order; the error is
// fs.Parse's (flag.ErrHelp for -h).
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		// Take one positional argument and parse what follows it again.
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
