/*
Copyright 2026 The finx-operator authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package devcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a parent program that starts a child
// with StartProcess and then waits to be killed (see TestChildDiesWithParent).
const helperEnv = "DEVCLUSTER_TEST_PARENT_LOG"

func TestMain(m *testing.M) {
	if logPath := os.Getenv(helperEnv); logPath != "" {
		p, err := StartProcess(context.Background(), "sleeper", logPath, nil, "sleep", "60")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("child=%d\n", p.Pid())
		select {} // until killed
	}
	os.Exit(m.Run())
}

// gone reports whether pid no longer runs. A zombie counts as gone: where
// nothing reaps orphans (PID 1 of some containers), one can linger.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return runtime.GOOS == "linux" // no /proc entry on Linux: gone
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startSh(t *testing.T, logPath, script string) *Process {
	t.Helper()
	p, err := StartProcess(t.Context(), "sh", logPath, nil, "/bin/sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

// childPid waits for the script to print "child=PID" and returns the PID.
func childPid(t *testing.T, p *Process) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := p.WaitForLogLine(ctx, "child="); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "child="); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatal("no child= line")
	return 0
}

func TestProcessKill(t *testing.T) {
	p, err := StartProcess(t.Context(), "sleeper", filepath.Join(t.TempDir(), "logs", "sleep.log"), nil, "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("Exited before Kill")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("not Exited after Kill")
	}
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Wait after Kill: %v, want signal: killed", err)
	}
	waitGone(t, p.Pid())
	if err := p.Kill(); err != nil {
		t.Fatalf("second Kill: %v", err)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatalf("Stop after Kill: %v", err)
	}
}

func TestProcessStopEndsItsChildren(t *testing.T) {
	// The grandchild ignores SIGTERM: Stop must still leave nothing behind
	// once the process it was asked to stop has exited.
	p := startSh(t, filepath.Join(t.TempDir(), "sh.log"), `(trap "" TERM; exec sleep 60) & echo child=$!; wait`)
	child := childPid(t, p)
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitGone(t, p.Pid())
	waitGone(t, child)
}

func TestProcessStopEscalatesToSIGKILL(t *testing.T) {
	p := startSh(t, filepath.Join(t.TempDir(), "sh.log"), `trap "" TERM; sleep 60 & echo child=$!; wait`)
	child := childPid(t, p)
	began := time.Now()
	err := p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Fatalf("Stop of a process ignoring SIGTERM: %v, want an error saying it was killed", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("Stop took %s with a 300ms timeout", d)
	}
	waitGone(t, p.Pid())
	waitGone(t, child)
}

func TestProcessEnvAndLog(t *testing.T) {
	t.Setenv("DEVCLUSTER_INHERITED", "yes")
	logPath := filepath.Join(t.TempDir(), "env.log")
	p, err := StartProcess(t.Context(), "env", logPath, []string{"DEVCLUSTER_GREETING=hi", "DEVCLUSTER_INHERITED=overridden"},
		"/bin/sh", "-c", `echo "greeting=$DEVCLUSTER_GREETING inherited=$DEVCLUSTER_INHERITED path=${PATH:+set}"; echo oops >&2`)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// The parent's environment is kept (PATH), env adds and overrides, and
	// stdout and stderr both land in the log between start and exit markers.
	for _, want := range []string{"=== devcluster: starting env (sh)", "greeting=hi inherited=overridden path=set\noops\n", "=== devcluster: env exited (exit status 0)"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("log lacks %q:\n%s", want, data)
		}
	}
}

func TestProcessWaitForLogLine(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	p := startSh(t, logPath, `echo starting; sleep 0.3; echo "listening on :8080"; sleep 60`)
	if err := p.WaitForLogLine(ctx, "listening on"); err != nil {
		t.Fatal(err)
	}
	if err := WaitForLogLine(ctx, logPath, "starting"); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatal(err)
	}

	// A restarted process appends to the same log; its own wait ignores the
	// earlier run's lines, and fails as soon as it exits.
	p = startSh(t, logPath, `echo "boom: bad config"; exit 3`)
	began := time.Now()
	err := p.WaitForLogLine(ctx, "listening on")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), logPath) {
		t.Fatalf("waiting on a process that exits: %v, want its exit status and log path", err)
	}
	if time.Since(began) > 2*time.Second {
		t.Fatal("WaitForLogLine did not notice the exit promptly")
	}

	short, cancel2 := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel2()
	if err := WaitForLogLine(short, filepath.Join(dir, "never.log"), "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting on a missing file: %v, want deadline exceeded", err)
	}
}

// TestChildDiesWithParent kills a parent program with SIGKILL, so that it
// cannot stop anything, and checks that the kernel ends its child.
func TestChildDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), helperEnv+"="+filepath.Join(t.TempDir(), "child.log"))
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "child=")))
	if err != nil {
		t.Fatalf("parent printed %q", line)
	}
	if gone(child) {
		t.Fatal("child not running before its parent was killed")
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	waitGone(t, child)
}

func TestPorts(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := PortFree(addr); err != nil {
		t.Fatalf("FreePort's port: %v", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := PortFree(addr); err == nil || err.Error() != "port "+addr+" is already in use" {
		t.Fatalf("PortFree on a taken port: %v", err)
	}
}
