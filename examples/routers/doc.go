// Package routers is the router guide of redishttp: its tests mount one Kit
// (a shared and a per-user cache route, a rate limiter with two policies,
// a lock on a create, the stats) in http.ServeMux, chi, gorilla/mux, gin and
// echo, and drive each with real HTTP requests. README.md shows the wiring
// and what differs per router; ginhttp adapts net/http middleware to gin.
package routers
