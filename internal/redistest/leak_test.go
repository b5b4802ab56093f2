package redistest

import (
	"strings"
	"testing"
	"time"
)

func TestFindLeaks(t *testing.T) {
	block := make(chan struct{})
	go leakyForTest(block)
	err := findLeaks(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "leakyForTest") {
		t.Fatalf("findLeaks missed a blocked goroutine: %v", err)
	}
	close(block)
	if err := findLeaks(leakGrace); err != nil {
		t.Fatalf("findLeaks after the goroutine ended: %v", err)
	}
}

func leakyForTest(block chan struct{}) { <-block }
