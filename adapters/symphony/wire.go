package symphony

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The SYMREST JSON shapes. The endpoints and their parameters follow the design
// (SYMREST 7.2+); the field names inside the bodies could not be checked against a real
// cluster (README.md lists this), so every shape lives here, the request bodies are pinned
// by golden tests, and the readers accept the few spellings an implementation is likely to
// use.
const (
	restPrefix    = "/platform/rest/symrest/v1"
	clientAPIPath = restPrefix + "/clientapi"
	sessionPath   = clientAPIPath + "/session"
	tasksPath     = sessionPath + "/tasks"
	resultsPath   = sessionPath + "/taskresults"
	loginPath     = restPrefix + "/auth/login"
	renewPath     = restPrefix + "/auth/renew"
	// csrfHeader carries the token a login returns on every later request.
	csrfHeader = "X-CSRF-Token"
)

// sessionRequest is the body of POST /session.
type sessionRequest struct {
	SessionName  string `json:"sessionName"`
	SessionType  string `json:"sessionType"`
	SessionFlags string `json:"sessionFlags"`
}

// partialAsync is the flag the Python adapter opens its session with.
const partialAsync = "PARTIAL_ASYNC"

// submitRequest is the body of PUT /session/tasks.
type submitRequest struct {
	TaskInputs []taskInputJSON `json:"taskInputs"`
}

type taskInputJSON struct {
	TaskTag   string `json:"taskTag"`
	InputData string `json:"inputData"` // base64 (standard, padded)
}

// flexID reads an id that may be a JSON string or number.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id is neither a string nor a number: %s", b)
	}
	*f = flexID(n.String())
	return nil
}

// decodeSessionID reads {"sessionId": ...} (or "id"), or a bare id.
func decodeSessionID(body []byte) (string, error) {
	var obj struct {
		SessionID *flexID `json:"sessionId"`
		ID        *flexID `json:"id"`
	}
	if err := json.Unmarshal(body, &obj); err == nil {
		switch {
		case obj.SessionID != nil && *obj.SessionID != "":
			return string(*obj.SessionID), nil
		case obj.ID != nil && *obj.ID != "":
			return string(*obj.ID), nil
		}
	}
	var bare flexID
	if err := json.Unmarshal(body, &bare); err == nil && bare != "" {
		return string(bare), nil
	}
	return "", fmt.Errorf("no session id in the answer %s", snippet(body))
}

// decodeTaskIDs reads {"taskIds": [...]} or a bare list.
func decodeTaskIDs(body []byte) ([]string, error) {
	var obj struct {
		TaskIDs []flexID `json:"taskIds"`
	}
	var list []flexID
	if err := json.Unmarshal(body, &obj); err == nil && obj.TaskIDs != nil {
		list = obj.TaskIDs
	} else if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("no task ids in the answer %s", snippet(body))
	}
	out := make([]string, len(list))
	for i, id := range list {
		out[i] = string(id)
	}
	return out, nil
}

type taskResultJSON struct {
	TaskID       *flexID `json:"taskId"`
	ID           *flexID `json:"id"`
	OutputData   *string `json:"outputData"`
	TaskOutput   *string `json:"taskOutput"`
	ErrorMessage *string `json:"errorMessage"`
	Error        *string `json:"error"`
}

// decodeTaskResults reads {"taskResults": [...]} or a bare list of results.
func decodeTaskResults(body []byte) ([]TaskOutput, error) {
	var obj struct {
		TaskResults []taskResultJSON `json:"taskResults"`
	}
	var list []taskResultJSON
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, nil
	case body[0] == '{':
		// An object without the list has no results yet.
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("unreadable task results %s: %w", snippet(body), err)
		}
		list = obj.TaskResults
	default:
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("no task results in the answer %s", snippet(body))
		}
	}
	out := make([]TaskOutput, 0, len(list))
	for _, r := range list {
		var o TaskOutput
		switch {
		case r.TaskID != nil:
			o.ID = string(*r.TaskID)
		case r.ID != nil:
			o.ID = string(*r.ID)
		default:
			return nil, errors.New("a task result has no task id")
		}
		if r.ErrorMessage != nil {
			o.Error = *r.ErrorMessage
		} else if r.Error != nil {
			o.Error = *r.Error
		}
		data := r.OutputData
		if data == nil {
			data = r.TaskOutput
		}
		if data != nil && *data != "" {
			b, err := base64.StdEncoding.DecodeString(*data)
			if err != nil {
				return nil, fmt.Errorf("task %s: output is not base64: %w", o.ID, err)
			}
			o.Data = b
		}
		out = append(out, o)
	}
	return out, nil
}

// decodeCSRF reads a token from a login or renew answer body.
func decodeCSRF(body []byte) string {
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	for _, k := range []string{"csrftoken", "csrfToken", "CSRFToken", "csrf_token"} {
		if s, ok := obj[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// errorMessage extracts a readable message from an error answer.
func errorMessage(body []byte) string {
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		for _, k := range []string{"message", "errorMessage", "Message", "error", "msg", "description"} {
			if s, ok := obj[k].(string); ok && s != "" {
				return oneLine(s, 300)
			}
		}
	}
	return oneLine(string(body), 300)
}

func snippet(b []byte) string { return strconv.Quote(oneLine(string(b), 120)) }

// oneLine folds s onto one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
