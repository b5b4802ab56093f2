package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"
)

// loadResult is what one load-generator run reports: only 2xx responses
// completed inside the measured window count as throughput; everything
// else is reported as errors.
type loadResult struct {
	OK        int64         `json:"ok"`         // 2xx completed in the window
	Non2xx    map[int]int64 `json:"non2xx"`     // status → count in the window
	Errors    int64         `json:"errors"`     // transport errors in the window
	FirstErr  string        `json:"first_err"`  // first error or non-2xx seen
	Seconds   float64       `json:"seconds"`    // measured window length
	P50       time.Duration `json:"p50"`        // latency of 2xx in the window
	P99       time.Duration `json:"p99"`        // latency of 2xx in the window
	BodyBytes int64         `json:"body_bytes"` // 2xx body bytes in the window
	CPU       float64       `json:"cpu"`        // load generator's CPU seconds in the window
}

func (r loadResult) RPS() float64 { return float64(r.OK) / r.Seconds }

func (r loadResult) Failed() int64 {
	n := r.Errors
	for _, v := range r.Non2xx {
		n += v
	}
	return n
}

// The child prints measureMarker when warm-up ends and endMarker when the
// window closes, so that the parent reads its Redis round-trip counter at
// the same moments.
const (
	measureMarker = "MEASURE"
	endMarker     = "END"
)

// runLoadgenChild is the child process: conns keep-alive connections, each
// driven by one goroutine issuing requests back to back.
func runLoadgenChild(out io.Writer, url string, conns int, warmup, dur time.Duration) error {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	start := time.Now()
	mStart := start.Add(warmup)
	mEnd := mStart.Add(dur)

	type workerOut struct {
		lat      []time.Duration
		ok       int64
		bytes    int64
		non2xx   map[int]int64
		errs     int64
		firstErr string
	}
	outs := make([]workerOut, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			o := &outs[id]
			o.lat = make([]time.Duration, 0, 1<<15)
			o.non2xx = map[int]int64{}
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				o.errs++
				o.firstErr = err.Error()
				return
			}
			req.Header.Set("X-Bench-Conn", strconv.Itoa(id))
			req.Header.Set("X-User-ID", "bench")
			buf := make([]byte, 32<<10)
			for {
				t0 := time.Now()
				if !t0.Before(mEnd) {
					return
				}
				resp, err := client.Do(req)
				var n int64
				status := 0
				if err == nil {
					status = resp.StatusCode
					var rerr error
					for {
						k, e := resp.Body.Read(buf)
						n += int64(k)
						if e != nil {
							if !errors.Is(e, io.EOF) {
								rerr = e
							}
							break
						}
					}
					_ = resp.Body.Close()
					err = rerr
				}
				t1 := time.Now()
				if t1.Before(mStart) || !t1.Before(mEnd) {
					continue // warm-up, or completed after the window
				}
				switch {
				case err != nil:
					o.errs++
					if o.firstErr == "" {
						o.firstErr = err.Error()
					}
				case status >= 200 && status < 300:
					o.ok++
					o.bytes += n
					o.lat = append(o.lat, t1.Sub(t0))
				default:
					o.non2xx[status]++
					if o.firstErr == "" {
						o.firstErr = "HTTP " + strconv.Itoa(status)
					}
				}
			}
		}(i)
	}
	if d := time.Until(mStart); d > 0 {
		time.Sleep(d)
	}
	cpu0 := ownCPU()
	fmt.Fprintln(out, measureMarker)
	time.Sleep(time.Until(mEnd))
	fmt.Fprintln(out, endMarker)
	cpu := ownCPU() - cpu0
	wg.Wait()

	res := loadResult{Non2xx: map[int]int64{}, Seconds: dur.Seconds(), CPU: cpu}
	var lat []time.Duration
	for _, o := range outs {
		res.OK += o.ok
		res.BodyBytes += o.bytes
		res.Errors += o.errs
		for k, v := range o.non2xx {
			res.Non2xx[k] += v
		}
		if res.FirstErr == "" {
			res.FirstErr = o.firstErr
		}
		lat = append(lat, o.lat...)
	}
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return json.NewEncoder(out).Encode(res)
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// sample is what the parent reads at the start and the end of the
// measured window: the contender's Redis counter, this process's CPU
// seconds, and Redis's CPU seconds (0 when not read).
type sample struct {
	count         rtCount
	cpu, redisCPU float64
}

func (a sample) sub(b sample) sample {
	return sample{count: a.count.sub(b.count), cpu: a.cpu - b.cpu, redisCPU: a.redisCPU - b.redisCPU}
}

// runLoad starts the load generator as a child process (like wrk: its own
// process, its own GC and scheduler) and returns its result together with
// the difference of two samples taken when the measured window opens and
// closes.
func runLoad(url string, conns int, warmup, dur time.Duration, snap func() sample) (loadResult, sample, error) {
	exe, err := os.Executable()
	if err != nil {
		return loadResult{}, sample{}, err
	}
	cmd := exec.Command(exe, "-loadgen", url, "-conns", strconv.Itoa(conns),
		"-warmup", warmup.String(), "-duration", dur.String())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return loadResult{}, sample{}, err
	}
	if err := cmd.Start(); err != nil {
		return loadResult{}, sample{}, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var before, after sample
	var res loadResult
	var got bool
	for sc.Scan() {
		line := sc.Bytes()
		switch string(line) {
		case measureMarker:
			before = snap()
			continue
		case endMarker:
			after = snap()
			continue
		}
		if err := json.Unmarshal(line, &res); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return loadResult{}, sample{}, fmt.Errorf("load generator output %q: %w", line, err)
		}
		got = true
	}
	if err := cmd.Wait(); err != nil {
		return loadResult{}, sample{}, fmt.Errorf("load generator: %w", err)
	}
	if !got {
		return loadResult{}, sample{}, errors.New("load generator printed no result")
	}
	return res, after.sub(before), nil
}
