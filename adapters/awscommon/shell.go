package awscommon

import (
	"strconv"
	"strings"
)

// WorkerCommand is the command a cloud unit runs: this binary as a fixed-mode
// baremetal_native manager of workers workers of workerType ("ECS", "ORB"), pointed at the
// scheduler, with the shared worker options as flags; objectStorage may be "".
func WorkerCommand(workerType, scheduler string, workers int, flags []string, objectStorage, managerID string) []string {
	cmd := []string{"scaler_worker_manager", "baremetal_native", scheduler, "--mode", "fixed", "--worker-type", workerType,
		"--max-task-concurrency", strconv.Itoa(workers)}
	cmd = append(cmd, flags...)
	if objectStorage != "" {
		cmd = append(cmd, "--object-storage-address", objectStorage)
	}
	return append(cmd, "--worker-manager-id", managerID)
}

// ShellJoin quotes args for a POSIX shell, so commands passed as text (ECS's COMMAND
// variable, EC2 user data) survive preload specs with spaces and quotes.
func ShellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// ShellQuote quotes one word for a POSIX shell (unquoted when it is plainly safe).
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
