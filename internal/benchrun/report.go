package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Status of a row.
const (
	statusPass    = "pass"
	statusFail    = "FAIL"
	statusSkipped = "skipped"
	statusPending = "pending"
	statusError   = "error"
	statusInfo    = "info"
)

// Row is one figure of the report: keyward's value, the baseline's (when
// the target is a ratio), the ratio, the target and whether it is met.
type Row struct {
	ID       string   `json:"id"`
	Figure   string   `json:"figure"`
	Unit     string   `json:"unit,omitempty"`
	Keyward  *float64 `json:"keyward,omitempty"`
	Baseline *float64 `json:"baseline,omitempty"`
	// BaselineName says what the baseline is ("echo", "ssh-agent", …).
	BaselineName string   `json:"baseline_name,omitempty"`
	Ratio        *float64 `json:"ratio,omitempty"`
	// Target is for people ("≤ 1.3×"); Cmp and Limit are for scripts: the
	// ratio (or, without a baseline, the value) must be Cmp Limit.
	Target string  `json:"target"`
	Cmp    string  `json:"cmp,omitempty"`
	Limit  float64 `json:"limit,omitempty"`
	Status string  `json:"status"`
	Note   string  `json:"note,omitempty"`
}

// Comparisons a target makes.
const (
	atMost  = "<="
	atLeast = ">="
)

func ptr(v float64) *float64 { return &v }

// meets reports whether v satisfies cmp limit.
func meets(v float64, cmp string, limit float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if cmp == atLeast {
		return v >= limit
	}
	return v <= limit
}

func passOrFail(ok bool) string {
	if ok {
		return statusPass
	}
	return statusFail
}

func cmpSymbol(cmp string) string {
	if cmp == atLeast {
		return "≥"
	}
	return "≤"
}

// ratioRow compares keyward's value with a baseline: the ratio
// keyward/baseline must be cmp limit.
func ratioRow(id, figure, unit string, keyward, baseline float64, baselineName, cmp string, limit float64) Row {
	r := Row{
		ID: id, Figure: figure, Unit: unit,
		Keyward: ptr(keyward), Baseline: ptr(baseline), BaselineName: baselineName,
		Target: fmt.Sprintf("%s %s×", cmpSymbol(cmp), formatLimit(limit)),
		Cmp:    cmp, Limit: limit,
	}
	if baseline != 0 {
		r.Ratio = ptr(keyward / baseline)
		r.Status = passOrFail(meets(*r.Ratio, cmp, limit))
	} else {
		r.Status = statusError
		r.Note = "the baseline is zero"
	}
	return r
}

// absRow checks keyward's value against an absolute limit in its unit.
func absRow(id, figure, unit string, keyward float64, cmp string, limit float64) Row {
	return Row{
		ID: id, Figure: figure, Unit: unit, Keyward: ptr(keyward),
		Target: fmt.Sprintf("%s %s %s", cmpSymbol(cmp), formatLimit(limit), unit),
		Cmp:    cmp, Limit: limit,
		Status: passOrFail(meets(keyward, cmp, limit)),
	}
}

// noteRow is a row without numbers: skipped, pending or failed to run.
func noteRow(id, figure, target, status, note string) Row {
	return Row{ID: id, Figure: figure, Target: target, Status: status, Note: note}
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	AgentUser  string `json:"agent_user"`
}

// Report is the whole run, as bin/bench.json holds it.
type Report struct {
	Started  string            `json:"started"`
	Seconds  float64           `json:"seconds"`
	Keyward  string            `json:"keyward"`
	Version  string            `json:"keyward_version,omitempty"`
	Machine  Machine           `json:"machine"`
	Settings map[string]string `json:"settings"`
	Rows     []Row             `json:"rows"`
}

// Counts returns how many rows have each status.
func (r *Report) Counts() map[string]int {
	c := map[string]int{}
	for _, row := range r.Rows {
		c[row.Status]++
	}
	return c
}

// WriteJSON writes the report to path, creating its directory.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// tableHeader is the table's columns.
var tableHeader = []string{"figure", "keyward", "baseline", "ratio", "target", "pass"}

// cells renders a row as table cells.
func (row Row) cells() []string {
	value := func(v *float64) string {
		if v == nil {
			return "—"
		}
		s := formatNumber(*v)
		if row.Unit != "" {
			s += " " + row.Unit
		}
		return s
	}
	base := value(row.Baseline)
	if row.Baseline != nil && row.BaselineName != "" {
		base += " (" + row.BaselineName + ")"
	}
	ratio := "—"
	if row.Ratio != nil {
		ratio = formatNumber(*row.Ratio) + "×"
	}
	status := row.Status
	if row.Note != "" && row.Keyward == nil {
		status += ": " + shortNote(row.Note)
	}
	return []string{row.Figure, value(row.Keyward), base, ratio, row.Target, status}
}

// maxCellNote is how much of a note fits in the pass column; the whole
// note follows the table.
const maxCellNote = 48

// shortNote is note cut to fit the table.
func shortNote(note string) string {
	if utf8.RuneCountInString(note) <= maxCellNote {
		return note
	}
	return string([]rune(note)[:maxCellNote-1]) + "…"
}

// WriteTable writes the rows as a Markdown table whose columns are padded
// to line up in a terminal too, then each row's note.
func (r *Report) WriteTable(w io.Writer) error {
	rows := [][]string{tableHeader}
	for _, row := range r.Rows {
		rows = append(rows, row.cells())
	}
	width := make([]int, len(tableHeader))
	for _, cells := range rows {
		for i, c := range cells {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" ")
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, cells := range rows[1:] {
		line(cells)
	}
	var notes []string
	for _, row := range r.Rows {
		if row.Note != "" && (row.Keyward != nil || shortNote(row.Note) != row.Note) {
			notes = append(notes, fmt.Sprintf("- %s: %s", row.Figure, row.Note))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatNumber prints a figure with as many digits as it deserves:
// 3 significant digits below 1000, whole numbers with thousands
// separators above.
func formatNumber(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case a >= 1000:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a == 0:
		return "0"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// formatLimit prints a target's limit exactly as written: 1.3, 0.8, 256.
func formatLimit(v float64) string {
	return groupThousands(strconv.FormatFloat(v, 'f', -1, 64))
}

// groupThousands puts commas between groups of three digits: 1234567 →
// 1,234,567.
func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	s, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac {
		frac = "." + frac
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteString(frac)
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
