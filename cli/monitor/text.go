package monitor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sovereign-backend/sovereign/tui"
)

// writeTables prints a snapshot for a person: a table per section, with
// relative times.
func writeTables(w io.Writer, s tui.Snapshot, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLANE\tURL\tSTATE\tVERSION\tREGION\tUPTIME\tCHECKS")
	for _, p := range []struct {
		name string
		pl   tui.Plane
	}{{"control", s.ControlPlane}, {"data", s.DataPlane}} {
		if !p.pl.Reachable {
			fmt.Fprintf(tw, "%s\t%s\tunreachable\t\t\t\t%s\n", p.name, p.pl.URL, oneLine(p.pl.Error))
			continue
		}
		checks := make([]string, len(p.pl.Checks))
		for i, c := range p.pl.Checks {
			checks[i] = c.Name + " " + tui.Latency(c.Latency)
			if !c.OK {
				checks[i] = c.Name + " failed: " + oneLine(c.Reason)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.name, p.pl.URL, planeState(p.pl), p.pl.Version,
			dash(p.pl.Region), tui.Span(now.Sub(p.pl.StartedAt)), strings.Join(checks, ", "))
	}
	fmt.Fprintln(tw)
	switch {
	case s.NotLoggedIn:
		fmt.Fprintln(tw, "Regions and projects: not logged in: run sov login")
		return tw.Flush()
	case s.RegionsError != "":
		fmt.Fprintln(tw, "Regions: "+oneLine(s.RegionsError))
	default:
		fmt.Fprintln(tw, "REGION\tURL\tHEALTHY\tLAST HEARTBEAT")
		for _, r := range s.Regions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.URL, yesNo(r.Healthy), tui.Ago(now, r.LastHeartbeat))
		}
	}
	fmt.Fprintln(tw)
	if s.ProjectsError != "" {
		fmt.Fprintln(tw, "Projects: "+oneLine(s.ProjectsError))
	}
	if len(s.Projects) == 0 && s.ProjectsError == "" {
		fmt.Fprintln(tw, "No projects.")
	} else if len(s.Projects) > 0 {
		fmt.Fprintln(tw, "PROJECT\tREF\tORG\tREGION\tSTATE\tCREATED\tLAST ERROR")
		for _, p := range s.Projects {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Ref, org(p), p.Region, p.State,
				tui.Ago(now, p.CreatedAt), oneLine(p.LastError))
		}
	}
	return tw.Flush()
}

// writeRecords prints a snapshot for a program: one tab-separated record a
// line, its kind first, times in RFC 3339 and latencies in microseconds.
//
//	plane    NAME URL STATE VERSION REGION STARTED_AT ERROR
//	check    PLANE NAME ok|failed LATENCY_US REASON
//	region   NAME URL healthy|unhealthy LAST_HEARTBEAT_AT
//	project  NAME REF ORG_ID ORG_NAME REGION STATE CREATED_AT LAST_ERROR
func writeRecords(w io.Writer, s tui.Snapshot) error {
	var b strings.Builder
	rec := func(fields ...string) {
		for i, f := range fields {
			fields[i] = oneLine(f) // no tab or newline inside a field
		}
		b.WriteString(strings.Join(fields, "\t"))
		b.WriteByte('\n')
	}
	for _, p := range []struct {
		name string
		pl   tui.Plane
	}{{"control", s.ControlPlane}, {"data", s.DataPlane}} {
		state := "unreachable"
		if p.pl.Reachable {
			state = planeState(p.pl)
		}
		rec("plane", p.name, p.pl.URL, state, p.pl.Version, p.pl.Region, rfc3339(p.pl.StartedAt), p.pl.Error)
		for _, c := range p.pl.Checks {
			ok := "ok"
			if !c.OK {
				ok = "failed"
			}
			rec("check", p.name, c.Name, ok, fmt.Sprint(c.Latency.Microseconds()), c.Reason)
		}
	}
	for _, r := range s.Regions {
		healthy := "healthy"
		if !r.Healthy {
			healthy = "unhealthy"
		}
		rec("region", r.Name, r.URL, healthy, rfc3339(r.LastHeartbeat))
	}
	for _, p := range s.Projects {
		rec("project", p.Name, p.Ref, p.OrgID, p.OrgName, p.Region, p.State, rfc3339(p.CreatedAt), p.LastError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func planeState(p tui.Plane) string {
	if p.Ready {
		return "ready"
	}
	return "not-ready"
}

func org(p tui.Project) string {
	if p.OrgName != "" {
		return p.OrgName
	}
	return p.OrgID
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
