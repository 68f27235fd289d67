package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Number is the set of numeric option types the range checks accept.
type Number interface {
	~int | ~int64 | ~uint64 | ~float64
}

// Positive rejects values that are not greater than zero.
func Positive[T Number](v T) error {
	if v > 0 {
		return nil
	}
	return fmt.Errorf("must be greater than 0, got %v", v)
}

// NonNegative rejects negative values.
func NonNegative[T Number](v T) error {
	if v >= 0 {
		return nil
	}
	return fmt.Errorf("must be 0 or more, got %v", v)
}

// NonZero rejects zero.
func NonZero[T Number](v T) error {
	if v != 0 {
		return nil
	}
	return errors.New("must not be 0")
}

// AtLeast returns a check rejecting values below lo (e.g. AtLeast(-1) for "-1 or more").
func AtLeast[T Number](lo T) func(T) error {
	return func(v T) error {
		if v >= lo {
			return nil
		}
		return fmt.Errorf("must be %v or more, got %v", lo, v)
	}
}

// NonEmpty rejects an empty or blank string.
func NonEmpty(s string) error {
	if strings.TrimSpace(s) != "" {
		return nil
	}
	return errors.New("must not be empty")
}

// NonEmptyList rejects a list without items.
func NonEmptyList(v []string) error {
	if len(v) > 0 {
		return nil
	}
	return errors.New("must name at least one item")
}

// HostPort accepts "HOST:PORT" with a port between 1 and 65535, split at the last colon (the
// form of the GUI's listen address).
func HostPort(s string) error {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || strings.Trim(s[:i], "[]") == "" {
		return fmt.Errorf("%q is not HOST:PORT", s)
	}
	port := s[i+1:]
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q of %q is not a number between 1 and 65535", port, s)
	}
	return nil
}
