package main

import (
	"math"
	"testing"
	"time"
)

func TestKeySlot(t *testing.T) {
	for _, c := range []struct {
		key  string
		slot int
	}{
		{"123456789", 0x31C3}, // the cluster specification's CRC16 check value
		{"somekey", 11058},
		{"foo{hash_tag}", 2515},
		{"bar{hash_tag}", 2515},
		{"foo", 12182},
		{"{stats}:total", keySlotNoTag("stats")},
		{"prefix{g7}e:k1", keySlotNoTag("g7")},
		{"{}foo", keySlotNoTag("{}foo")},           // empty tag: the whole key
		{"foo{}{bar}", keySlotNoTag("foo{}{bar}")}, // first { then } at once: the whole key
		{"foo{{bar}}", keySlotNoTag("{bar")},
	} {
		if got := keySlot(c.key); got != c.slot {
			t.Errorf("keySlot(%q) = %d, want %d", c.key, got, c.slot)
		}
	}
}

func keySlotNoTag(s string) int { return int(crc16(s) % clusterSlots) }

func TestMasterOfAndGroups(t *testing.T) {
	tg := &target{nodes: make([]*capNode, 3), slots: []slotRange{{0, 5460, 0}, {5461, 10921, 1}, {10922, 16383, 2}}}
	if got := masterOf(tg, keySlot("foo")); got != 2 {
		t.Errorf("masterOf(foo) = %d, want 2 (slot 12182)", got)
	}
	if got := masterOf(tg, keySlot("somekey")); got != 2 {
		t.Errorf("masterOf(somekey) = %d, want 2 (slot 11058)", got)
	}
	if got := masterOf(tg, keySlot("foo{hash_tag}")); got != 0 {
		t.Errorf("masterOf(foo{hash_tag}) = %d, want 0 (slot 2515)", got)
	}
	if got := (model{kind: spreadTags, tags: []string{"hash_tag", "hash_tag", "foo", "somekey"}}).largestShare(tg); !approx(got, 0.5) {
		t.Errorf("tags model: largest share %v, want 0.5 (two of four on master 0, two on master 2)", got)
	}
	if got := (model{kind: spreadSlots}).largestShare(tg); !approx(got, 5462.0/clusterSlots) {
		t.Errorf("slots model: largest share %v, want 5462/16384", got)
	}
	if got := (model{kind: oneMaster}).largestShare(tg); got != 1 {
		t.Errorf("one-master model: largest share %v, want 1", got)
	}
	g := cacheGroupsPerMaster(tg, 64)
	sum := 0
	for _, n := range g {
		sum += n
	}
	if sum != 64 {
		t.Errorf("groups per master %v sum to %d, want 64", g, sum)
	}
}

const sampleInfo = "# Commandstats\r\n" +
	"cmdstat_evalsha:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_incrby:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_config|resetstat:calls=1,usec=5,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_cluster|slots:calls=2,usec=8,usec_per_call=4.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_exec:calls=4,usec=40,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
	"\r\n# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\n"

func TestParseCommandStats(t *testing.T) {
	got := parseCommandStats(sampleInfo)
	want := map[string]cmdStat{"evalsha": {10, 100}, "incrby": {10, 20}}
	if len(got) != len(want) {
		t.Fatalf("parsed %v, want %v (INFO, CONFIG, CLUSTER and EXEC left out)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %+v, want %+v", k, got[k], v)
		}
	}
	if v := infoField(sampleInfo, "used_cpu_user"); v != "2.250000" {
		t.Errorf("used_cpu_user = %q", v)
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A script's EVALSHA carries the time of the commands it runs: they are
// listed as run in scripts and not charged again.
func TestPerOpChargesScriptsOnce(t *testing.T) {
	m := &meas{
		ops:  10,
		wall: time.Second,
		nodes: []nodeSnap{
			{stats: map[string]cmdStat{"evalsha": {6, 60}, "incrby": {6, 12}}, sent: map[string]int64{"evalsha": 6, "ping": 3}, cpu: 0.0002},
			{stats: map[string]cmdStat{"evalsha": {4, 80}, "incrby": {4, 4}}, sent: map[string]int64{"evalsha": 4}, cpu: 0.0001},
		},
	}
	r := perOp("x", m)
	if !approx(r.cmds, 1) {
		t.Errorf("cmds/op = %v, want 1 (PING left out)", r.cmds)
	}
	if !approx(r.usec, 14) { // (60 + 80) / 10
		t.Errorf("usec/op = %v, want 14", r.usec)
	}
	if !approx(r.cpu, 30) { // 300 µs / 10
		t.Errorf("cpu/op = %v, want 30", r.cpu)
	}
	if r.commands != "EVALSHA ×1.00; in scripts: INCRBY ×1.00" {
		t.Errorf("commands = %q", r.commands)
	}
	if len(r.nodes) != 2 || !approx(r.nodes[0].cmds, 0.6) || !approx(r.nodes[0].executed, 1.2) ||
		!approx(r.nodes[1].usec, 8) || !approx(r.nodes[1].executed, 0.8) {
		t.Errorf("per node = %+v", r.nodes)
	}
	if !approx(r.opsPerSec(), 10) || !approx(r.redisCores(), 0.0003) {
		t.Errorf("ops/s = %v, Redis cores = %v", r.opsPerSec(), r.redisCores())
	}
}

func TestMeasAddsDifferences(t *testing.T) {
	t0 := time.Unix(100, 0)
	before := snap{at: t0, clientCPU: 1, nodes: []nodeSnap{{stats: map[string]cmdStat{"get": {5, 10}}, sent: map[string]int64{"get": 5}, cpu: 2}}}
	after := snap{at: t0.Add(2 * time.Second), clientCPU: 2.5, nodes: []nodeSnap{{stats: map[string]cmdStat{"get": {9, 18}, "set": {1, 3}}, sent: map[string]int64{"get": 9}, cpu: 2.5}}}
	var m meas
	m.add(before, after, 4)
	m.add(before, after, 4)
	if m.ops != 8 || m.wall != 4*time.Second || !approx(m.clientCPU, 3) {
		t.Fatalf("ops %d wall %v client %v", m.ops, m.wall, m.clientCPU)
	}
	n := m.nodes[0]
	if n.stats["get"] != (cmdStat{8, 16}) || n.stats["set"] != (cmdStat{2, 6}) || n.sent["get"] != 8 || !approx(n.cpu, 1) {
		t.Errorf("node = %+v", n)
	}
}

func TestCountAndPerMillion(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{count(0), "–"},
		{count(151.94), "151.9"},
		{count(404000), "404k"},
		{perCore(2.5), "400k"},
		{perMillion(1568), "1.57 GB"},
		{perMillion(145), "145 MB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
