//go:build !unix

package main

// machineCPU is the CPU time the machine has used, in seconds; 0 where it
// is not read.
func machineCPU() float64 { return 0 }
