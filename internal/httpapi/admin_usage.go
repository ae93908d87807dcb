package httpapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// GET …/orgs/{org}/usage/?from=&to=&group_by= (its admins, operators).
func (s *Server) orgUsage(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	return s.usage(w, r, org)
}

// GET …/usage/ (operators): every org's usage; group_by may name org.
func (s *Server) platformUsage(w http.ResponseWriter, r *http.Request) error {
	return s.usage(w, r, nil)
}

// usage answers a usage report as JSON ({"results": [...]}) or, when the client accepts
// text/csv and not JSON first, as CSV with a header row.
func (s *Server) usage(w http.ResponseWriter, r *http.Request, org *aiproxy.Org) error {
	q := r.URL.Query()
	var group []string
	if v := q.Get("group_by"); v != "" {
		for _, g := range strings.Split(v, ",") {
			group = append(group, strings.TrimSpace(g))
		}
	}
	rows, err := s.tenancy.Usage(r.Context(), actorFrom(r), org, tenancy.UsageReportQuery{From: q.Get("from"), To: q.Get("to"), GroupBy: group})
	if err != nil {
		return err
	}
	if wantsCSV(r.Header.Get("Accept")) {
		if len(group) == 0 {
			group = tenancy.DefaultUsageGroupBy
		}
		writeUsageCSV(w, group, rows)
		return nil
	}
	writeJSON(w, http.StatusOK, list{Results: rows})
	return nil
}

// wantsCSV reports whether an Accept header asks for text/csv ahead of JSON.
func wantsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv":
			return true
		case "application/json", "*/*", "application/*":
			return false
		}
	}
	return false
}

func writeUsageCSV(w http.ResponseWriter, group []string, rows []tenancy.UsageReportRow) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	header := append(append([]string{}, group...), "calls", "billable_calls", "failed_calls", "refused", "replayed",
		aiproxy.UnitRequests, aiproxy.UnitCharacters, aiproxy.UnitSeconds)
	_ = cw.Write(header)
	for _, row := range rows {
		rec := make([]string, 0, len(header))
		for _, g := range group {
			rec = append(rec, map[string]string{"org": row.Org, "service": row.Service, "action": row.Action, "day": row.Day}[g])
		}
		for _, n := range []int64{row.Calls, row.BillableCalls, row.FailedCalls, row.Refused, row.Replayed,
			row.Units[aiproxy.UnitRequests], row.Units[aiproxy.UnitCharacters], row.Units[aiproxy.UnitSeconds]} {
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
}

// GET, PUT, DELETE …/orgs/{org}/budgets/{service}/: operators set and delete, the org's
// admins read.
func (s *Server) getBudget(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	b, err := s.tenancy.Budget(r.Context(), actorFrom(r), org, r.PathValue("service"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenancy.BudgetView(b))
	return nil
}

func (s *Server) putBudget(w http.ResponseWriter, r *http.Request) error {
	if err := tenancy.RequireOperator(actorFrom(r)); err != nil {
		return err // before reading the body
	}
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	var body struct {
		Period *string           `json:"period"`
		Limits map[string]*int64 `json:"limits"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"period": "Field 'period' must be 'day' or 'month'.",
		"limits": "Field 'limits' must be an object of positive integers, e.g. {\"characters\": 100000}.",
	}); err != nil {
		return err
	}
	b, err := s.tenancy.PutBudget(r.Context(), actorFrom(r), org, r.PathValue("service"), tenancy.BudgetChange{Period: body.Period, Limits: body.Limits})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenancy.BudgetView(b))
	return nil
}

func (s *Server) deleteBudget(w http.ResponseWriter, r *http.Request) error {
	if err := tenancy.RequireOperator(actorFrom(r)); err != nil {
		return err
	}
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	if err := s.tenancy.DeleteBudget(r.Context(), actorFrom(r), org, r.PathValue("service")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
