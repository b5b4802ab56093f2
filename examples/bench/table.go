package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printTable writes the markdown table: medians over rounds of req/s,
// round trips per request and latency percentiles.
func printTable(out io.Writer, rs []*running) {
	medRPS := map[string]float64{}
	for _, r := range rs {
		medRPS[r.c.name] = median(mapf(r.results, func(x loadResult) float64 { return x.RPS() }))
	}
	fmt.Fprintln(out, "| contender | group | req/s (median) | × bare | × same-work raw | Redis round trips / req | p50 | p99 | failed | rounds (req/s) |")
	fmt.Fprintln(out, "|---|---|---:|---:|---|---:|---:|---:|---:|---|")
	for _, r := range rs {
		rps := medRPS[r.c.name]
		xBare := "—"
		if b, ok := medRPS["bare"]; ok && b > 0 {
			xBare = fmt.Sprintf("%.2f", rps/b)
		}
		xRaw := "—"
		if r.c.baseline != "" {
			if b, ok := medRPS[r.c.baseline]; ok && b > 0 {
				xRaw = fmt.Sprintf("%.2f (%s)", rps/b, r.c.baseline)
			}
		}
		var rt []float64
		var failed int64
		for i, res := range r.results {
			rt = append(rt, perReq(r.rts[i], res))
			failed += res.Failed()
		}
		p50 := time.Duration(median(mapf(r.results, func(x loadResult) float64 { return float64(x.P50) })))
		p99 := time.Duration(median(mapf(r.results, func(x loadResult) float64 { return float64(x.P99) })))
		var rounds []string
		for _, res := range r.results {
			rounds = append(rounds, fmt.Sprintf("%.0f", res.RPS()))
		}
		rtText := fmt.Sprintf("%.2f", median(rt))
		if median(rt) < r.c.minRT*0.97 {
			rtText += " ⚠ below its minimum " + fmt.Sprint(r.c.minRT) + ": served without Redis?"
		}
		fmt.Fprintf(out, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %d | %s |\n",
			r.c.name, r.c.group, rps, xBare, xRaw, rtText, fmtDur(p50), fmtDur(p99), failed, strings.Join(rounds, " / "))
	}
}

func mapf[T any](in []T, f func(T) float64) []float64 {
	out := make([]float64, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}
