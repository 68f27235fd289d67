package config

// editDistance is the Levenshtein distance between a and b, counted in bytes (keys and flag
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isSep reports whether b separates the words of a key or flag name.
func isSep(b byte) bool { return b == '_' || b == '-' }

// segmentDistance is the smallest edit distance between word and a run of whole words of
// candidate ("timout" against the "timeout" of "worker_timeout_seconds"), so that a key with
// a typo and a missing or extra word part still finds its option.
func segmentDistance(word, candidate string) int {
	best := -1
	for i := 0; i < len(candidate); i++ {
		if i > 0 && !isSep(candidate[i-1]) {
			continue
		}
		for j := i + 1; j <= len(candidate); j++ {
			if j < len(candidate) && !isSep(candidate[j]) {
				continue
			}
			if d := editDistance(word, candidate[i:j]); best < 0 || d < best {
				best = d
			}
		}
	}
	return best
}

// suggest returns the candidate closest to word, or "" when none is close enough to be a
// plausible typo: a small edit distance to the whole candidate, or (for words of four letters
// or more) to a run of its words, because people write "level" for "logging_level" and
// "worker_timout" for "worker_timeout_seconds". Ties go to the smaller whole-name distance,
// then to the alphabetically first candidate.
func suggest(word string, candidates []string) string {
	if len(word) > 64 {
		return "" // no option name is this long; skip the quadratic work on junk input
	}
	best, bestScore, bestFull := "", -1, -1
	for _, c := range candidates {
		full := editDistance(word, c)
		score := -1
		if full <= max(2, len(word)/3) {
			score = full
		}
		if len(word) >= 4 {
			if d := segmentDistance(word, c); d <= len(word)/4 && (score < 0 || d < score) {
				score = d
			}
		}
		if score < 0 {
			continue
		}
		if best == "" || score < bestScore || score == bestScore && (full < bestFull || full == bestFull && c < best) {
			best, bestScore, bestFull = c, score, full
		}
	}
	return best
}
