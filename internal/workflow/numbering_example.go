package workflow

// ExampleNumber is the first number of the year a registry with this code
// and numbering template would give in direction d: what the
// administration shows beside a template. It is written by the one
// formatter of register numbers (numbering.go), with the template checked
// and defaulted as AddRegistry and UpdateRegistry do: "" is
// DefaultTemplate, and an invalid template is an *InputError for
// "template".
func ExampleNumber(tmpl, registry string, d Direction, year int) (string, error) {
	t, err := checkTemplate(tmpl)
	if err != nil {
		return "", err
	}
	return formatNumber(t, registry, d, year, 1), nil
}
