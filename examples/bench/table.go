package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printTable writes the markdown table: medians over rounds of req/s,
// Redis commands and round trips per request, CPU time per request and
// latency percentiles.
func printTable(out io.Writer, rs []*running) {
	medRPS := map[string]float64{}
	for _, r := range rs {
		medRPS[r.c.name] = median(mapf(r.results, func(x loadResult) float64 { return x.RPS() }))
	}
	fmt.Fprintln(out, "| contender | group | req/s (median) | × bare | × same-work raw | Redis commands / req | Redis round trips / req | CPU µs / req: server + Redis + load gen | p50 | p99 | failed | rounds (req/s) |")
	fmt.Fprintln(out, "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rs {
		rps := medRPS[r.c.name]
		xBare := "—"
		if ceil := ceilingOf(r.c); medRPS[ceil] > 0 {
			xBare = fmt.Sprintf("%.2f", rps/medRPS[ceil])
			if ceil != "bare" {
				xBare += " (" + ceil + ")"
			}
		}
		xRaw := "—"
		if r.c.baseline != "" {
			if b, ok := medRPS[r.c.baseline]; ok && b > 0 {
				xRaw = fmt.Sprintf("%.2f (%s)", rps/b, r.c.baseline)
			}
		}
		var rt, cmds, srvCPU, redisCPU, genCPU []float64
		var failed int64
		for i, res := range r.results {
			s := r.samples[i]
			rt = append(rt, perReq(s.count.rt, res))
			cmds = append(cmds, perReq(s.count.cmds, res))
			if n := float64(res.OK + res.Failed()); n > 0 {
				srvCPU = append(srvCPU, 1e6*s.cpu/n)
				redisCPU = append(redisCPU, 1e6*s.redisCPU/n)
				genCPU = append(genCPU, 1e6*res.CPU/n)
			}
			failed += res.Failed()
		}
		cpuText := fmt.Sprintf("%.0f + %.0f + %.0f", median(srvCPU), median(redisCPU), median(genCPU))
		if !r.redisCPU {
			cpuText = fmt.Sprintf("%.0f + ? + %.0f", median(srvCPU), median(genCPU))
		}
		p50 := time.Duration(median(mapf(r.results, func(x loadResult) float64 { return float64(x.P50) })))
		p99 := time.Duration(median(mapf(r.results, func(x loadResult) float64 { return float64(x.P99) })))
		var rounds []string
		for _, res := range r.results {
			rounds = append(rounds, fmt.Sprintf("%.0f", res.RPS()))
		}
		cmdText := fmt.Sprintf("%.2f", median(cmds))
		if median(cmds) < r.c.minCmds*0.97 {
			cmdText += " ⚠ below its minimum " + fmt.Sprint(r.c.minCmds) + ": served without Redis?"
		}
		fmt.Fprintf(out, "| %s | %s | %.0f | %s | %s | %s | %.2f | %s | %s | %s | %d | %s |\n",
			r.c.name, r.c.group, rps, xBare, xRaw, cmdText, median(rt), cpuText, fmtDur(p50), fmtDur(p99), failed, strings.Join(rounds, " / "))
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
