package main

import (
	"fmt"
	"io"
	"strings"
)

// pair is a head-to-head comparison printed under the table: contender a's
// req/s over contender b's, from the same run. A target above zero is a
// goal the ratio must reach; zero only reports the ratio.
type pair struct {
	what   string
	a, b   string
	target float64
}

// pairs are the comparisons the goals of BENCHMARKS.md are judged on. With
// -goals only their contenders run, in the order they first appear here,
// so that the two sides of a pair run next to each other in every round.
var pairs = []pair{
	{"demo weather hit, pipelined / not pipelined", "ours full stack (weather, pipelined)", "ours full stack (weather)", 1.25},
	{"demo weather hit, pipelined / bare handler, same bytes", "ours full stack (weather, pipelined)", "bare (weather JSON)", 0.45},
	{"demo weather hit, not pipelined / bare handler, same bytes", "ours full stack (weather)", "bare (weather JSON)", 0},
	{"rate limit, 2 policies pipelined / ulule 1 policy", "ours ratelimit 2 policies (pipelined)", "peer ulule/limiter", 1.3},
	{"rate limit, 2 policies / ulule 1 policy", "ours ratelimit 2 policies", "peer ulule/limiter", 0},
	{"cache hit without L1, pipelined / go-redis/cache Once", "ours cache hit (pipelined)", "peer go-redis/cache Once", 1},
	{"cache hit without L1 / go-redis/cache Once", "ours cache hit", "peer go-redis/cache Once", 0},
	{"lock acquire + release, pipelined / bsm/redislock", "ours lock (pipelined)", "peer bsm/redislock", 1},
	{"lock acquire + release / bsm/redislock", "ours lock", "peer bsm/redislock", 0},
}

// goalContenders returns the contenders the pairs compare, in the order
// they first appear in pairs.
func goalContenders(all []contender) []contender {
	by := map[string]contender{}
	for _, c := range all {
		by[c.name] = c
	}
	seen := map[string]bool{}
	var out []contender
	for _, p := range pairs {
		for _, name := range []string{p.a, p.b} {
			if c, ok := by[name]; ok && !seen[name] {
				seen[name] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// printPairs writes the head-to-head table for the pairs whose two
// contenders both ran: the ratio of their median req/s, the ratio within
// each round (the two ran minutes apart at most, so a round's ratio shows
// the run's spread), the inverse ratio of their CPU time per request
// (server, Redis and load generator together: what the req/s ratio tends
// to when the three share saturated cores, and much steadier than req/s on
// a loaded machine), and a verdict for the goals, judged on req/s. A goal
// of 1 means "ahead": it is met only above 1.00.
func printPairs(out io.Writer, rs []*running) {
	by := map[string]*running{}
	for _, r := range rs {
		by[r.c.name] = r
	}
	var rows []string
	for _, p := range pairs {
		a, b := by[p.a], by[p.b]
		if a == nil || b == nil {
			continue
		}
		med := median(mapf(a.results, func(x loadResult) float64 { return x.RPS() })) /
			median(mapf(b.results, func(x loadResult) float64 { return x.RPS() }))
		var rounds []string
		met := 0
		n := min(len(a.results), len(b.results))
		for i := range n {
			x := 0.0
			if br := b.results[i].RPS(); br > 0 {
				x = a.results[i].RPS() / br
			}
			rounds = append(rounds, fmt.Sprintf("%.2f", x))
			if reaches(x, p.target) {
				met++
			}
		}
		costRatio := "—"
		if ca, cb := cpuPerReq(a), cpuPerReq(b); ca > 0 && cb > 0 {
			costRatio = fmt.Sprintf("%.2f", cb/ca)
		}
		goal, verdict := "—", "—"
		if p.target > 0 {
			goal = fmt.Sprintf("≥ %.2f", p.target)
			if p.target == 1 {
				goal = "> 1.00"
			}
			switch {
			case reaches(med, p.target):
				verdict = fmt.Sprintf("met (%d of %d rounds)", met, n)
			default:
				verdict = fmt.Sprintf("missed by %.1f %% (%d of %d rounds met)", 100*(p.target-med)/p.target, met, n)
			}
		}
		rows = append(rows, fmt.Sprintf("| %s | %.2f | %s | %s | %s | %s |", p.what, med, strings.Join(rounds, " / "), costRatio, goal, verdict))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| comparison | ratio of medians | per round | CPU / req, inverse ratio | goal | verdict |")
	fmt.Fprintln(out, "|---|---:|---|---:|---|---|")
	for _, r := range rows {
		fmt.Fprintln(out, r)
	}
}

// cpuPerReq is the median over rounds of the CPU time one request of r
// cost the server, Redis and the load generator together; 0 when not
// measured.
func cpuPerReq(r *running) float64 {
	var v []float64
	for i, res := range r.results {
		if i >= len(r.samples) {
			break
		}
		if n := float64(res.OK + res.Failed()); n > 0 {
			s := r.samples[i]
			v = append(v, (s.cpu+s.redisCPU+res.CPU)/n)
		}
	}
	return median(v)
}

// reaches reports whether ratio x meets target: strictly above 1 for the
// "ahead of" goals (target 1), at least target otherwise.
func reaches(x, target float64) bool {
	if target == 1 {
		return x > 1
	}
	return x >= target
}
