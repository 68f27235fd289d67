// Package monitortest reads the monitor streams recorded from the Python project
// (testdata/interop/<scenario>/monitor.jsonl.gz) for the tests of the dashboards.
package monitortest

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// Message is one monitor message of a recording.
type Message struct {
	// TMS is when it was recorded, in milliseconds from the start of the recording.
	TMS float64
	Msg protocol.Message
}

// At is when the message was recorded on a clock on which the recording started at base.
func (m Message) At(base time.Time) time.Time {
	return base.Add(time.Duration(m.TMS * float64(time.Millisecond)))
}

// Load decodes every monitor message the scheduler published on connection conn of the
// recording at path. The error of a missing file satisfies errors.Is(err, fs.ErrNotExist).
func Load(path, conn string) ([]Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Message
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r struct {
			Conn string  `json:"conn"`
			Dir  string  `json:"dir"`
			Type string  `json:"type"`
			Hex  string  `json:"hex"`
			TMS  float64 `json:"t_ms"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if r.Conn != conn || r.Dir != "s2c" || !strings.HasPrefix(r.Type, "state") {
			continue
		}
		raw, err := hex.DecodeString(r.Hex)
		if err != nil {
			return nil, fmt.Errorf("%s: %s at %.3f ms: %w", path, r.Type, r.TMS, err)
		}
		m, err := protocol.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: decode %s at %.3f ms: %w", path, r.Type, r.TMS, err)
		}
		out = append(out, Message{TMS: r.TMS, Msg: m})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
