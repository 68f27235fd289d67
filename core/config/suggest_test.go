package config

import "testing"

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3},
		{"client_timeout_second", "client_timeout_seconds", 1}, {"montior", "monitor", 2},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"logging_level", "logging_paths", "io_threads", "event_loop", "mode", "worker_timeout_seconds", "client_timeout_seconds"}
	for _, tt := range []struct{ word, want string }{
		{"logging_levl", "logging_level"},
		{"level", "logging_level"},
		{"paths", "logging_paths"},
		{"io_thread", "io_threads"},
		{"mod", "mode"},
		{"evnt_loop", "event_loop"},
		{"completely_different", ""},
		{"xy", ""},
		{"worker_timout", "worker_timeout_seconds"},
		{"client_timeout", "client_timeout_seconds"},
		{"timeout_seconds", "client_timeout_seconds"},
		{"seconds", "client_timeout_seconds"},
		{"loop", "event_loop"},
		{"threads", "io_threads"},
		{"logging", "logging_level"},
	} {
		if got := suggest(tt.word, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
	if got := suggest("x", nil); got != "" {
		t.Errorf("suggest with no candidates = %q", got)
	}
}
