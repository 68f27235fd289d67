//go:build !cgo || !linux

package keepawake

import (
	"errors"
	"time"
)

func startKeeper(time.Duration) error {
	return errors.New("this build has no idle-priority keeper (it needs cgo on Linux)")
}

func touch() {}

func spinCount() uint64    { return 0 }
func busyCount() uint64    { return 0 }
func keeperThread() int    { return 0 }
func keeperSleeping() bool { return true }
