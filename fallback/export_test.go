package fallback

// Unexported helpers the external tests check directly.
var (
	RedactURL = redactURL
	IsFailure = isFailure
)
