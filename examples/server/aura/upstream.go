package aura

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Upstream simulates the external APIs the seed service called, with the
// seed's latencies (weather 500ms, news 800ms, subscription 200ms; OAuth
// 300ms and AI 1200ms), scaled by UPSTREAM_LATENCY_SCALE. It counts calls so
// tests and the stats can show how many the cache saved.
type Upstream struct {
	scale float64
	calls atomic.Int64
	byAPI [apiCount]atomic.Int64
}

// API identifies one simulated upstream.
type API int

// The simulated upstream APIs.
const (
	APIWeather API = iota
	APINews
	APISubscription
	APIOAuth
	APIAI
	apiCount
)

var apiLatency = [apiCount]time.Duration{
	APIWeather: 500 * time.Millisecond, APINews: 800 * time.Millisecond,
	APISubscription: 200 * time.Millisecond, APIOAuth: 300 * time.Millisecond,
	APIAI: 1200 * time.Millisecond,
}

// NewUpstream returns simulated upstreams with latencies scaled by scale.
func NewUpstream(scale float64) *Upstream { return &Upstream{scale: scale} }

// Calls returns the number of upstream calls made so far, in total.
func (u *Upstream) Calls() int64 { return u.calls.Load() }

// CallsTo returns the number of calls made to one API.
func (u *Upstream) CallsTo(a API) int64 { return u.byAPI[a].Load() }

// Latency returns the scaled latency of a.
func (u *Upstream) Latency(a API) time.Duration {
	return time.Duration(float64(apiLatency[a]) * u.scale)
}

func (u *Upstream) call(ctx context.Context, a API) error {
	u.calls.Add(1)
	u.byAPI[a].Add(1)
	return sleepCtx(ctx, u.Latency(a))
}

// Weather is the simulated weather API's answer.
type Weather struct {
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	TempC       float64 `json:"tempC"`
	Conditions  string  `json:"conditions"`
	FetchedAt   string  `json:"fetchedAt"`
	UpstreamSeq int64   `json:"upstreamSeq"`
}

// Weather fetches the weather at (lat, lon).
func (u *Upstream) Weather(ctx context.Context, lat, lon float64) (Weather, error) {
	if err := u.call(ctx, APIWeather); err != nil {
		return Weather{}, err
	}
	conds := []string{"clear", "cloudy", "rain", "snow", "windy"}
	seed := int(math.Abs(lat*100+lon*7)) % len(conds)
	return Weather{Lat: lat, Lon: lon, TempC: math.Round((15+10*math.Sin(lat/10))*10) / 10,
		Conditions: conds[seed], FetchedAt: time.Now().UTC().Format(time.RFC3339Nano),
		UpstreamSeq: u.CallsTo(APIWeather)}, nil
}

// Article is one news item.
type Article struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// News fetches headlines for topic.
func (u *Upstream) News(ctx context.Context, topic string) ([]Article, error) {
	if err := u.call(ctx, APINews); err != nil {
		return nil, err
	}
	out := make([]Article, 3)
	for i := range out {
		out[i] = Article{Title: fmt.Sprintf("%s: headline %d", topic, i+1),
			URL: fmt.Sprintf("https://news.example/%d", i+1)}
	}
	return out, nil
}

// Subscription fetches nothing by itself (plans live in the Store) but pays
// the subscription service's latency, as the seed's billing API call did.
func (u *Upstream) Subscription(ctx context.Context) error { return u.call(ctx, APISubscription) }

// OAuthConnection is one linked account.
type OAuthConnection struct {
	Provider  string `json:"provider"`
	Connected bool   `json:"connected"`
}

// OAuthConnections fetches the user's linked accounts.
func (u *Upstream) OAuthConnections(ctx context.Context, user string) ([]OAuthConnection, error) {
	if err := u.call(ctx, APIOAuth); err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(user))
	return []OAuthConnection{{"google", h[0]&1 == 1}, {"github", h[1]&1 == 1}, {"spotify", h[2]&1 == 1}}, nil
}

// Complete answers a prompt, slowly, like a language model API.
func (u *Upstream) Complete(ctx context.Context, prompt string) (string, error) {
	if err := u.call(ctx, APIAI); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(prompt))
	return "Simulated answer " + hex.EncodeToString(h[:4]) + " to: " + prompt, nil
}
