//go:build race

package objstore

// raceEnabled shrinks the largest payloads of the tests: the race detector makes every
// memory access many times slower.
const raceEnabled = true
