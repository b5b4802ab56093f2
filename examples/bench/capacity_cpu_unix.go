//go:build unix

package main

import (
	"os"
	"strconv"
	"strings"
)

// machineCPU is the CPU time all processes of the machine have used since
// boot, in seconds (Linux /proc/stat, in USER_HZ = 100 ticks a second); 0
// where /proc/stat is not there.
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100
}
