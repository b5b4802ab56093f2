package main

import (
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
)

func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }
