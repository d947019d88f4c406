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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL
// when given a timeout <= 0.
const DefaultStopTimeout = 10 * time.Second

// Process is a child process whose stdout and stderr go to a log file. It runs
// in its own process group: Stop and Kill signal the whole group, so nothing
// the process started survives it.
type Process struct {
	name    string
	logPath string
	pid     int
	// logOffset is where this run's output starts in the log file, which is
	// appended to, so that a restarted process keeps the earlier run's log.
	logOffset int64
	done      chan struct{}
	waitErr   error // written once before done is closed
	// reapGroup sends the final SIGKILL to the group once the process has
	// exited. Only once, and only from Stop or Kill: later, the process ID
	// could belong to an unrelated process group.
	reapGroup sync.Once
}

// StartProcess starts bin with args, appending its stdout and stderr to logPath
// (created with its directory if needed). env holds KEY=VALUE entries that are
// added to, and override, this process's environment.
//
// ctx only guards the start: a cancelled ctx refuses to start the process, but
// a started process runs until Stop, Kill or its own exit, whatever happens to
// ctx (so a caller's start-up timeout does not kill it later). Callers own the
// process: defer Stop, or register it with t.Cleanup.
func StartProcess(ctx context.Context, name, logPath string, env []string, bin string, args ...string) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("not starting %s: %w", name, err)
	}
	if logPath == "" {
		return nil, fmt.Errorf("starting %s: no log path", name)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting %s: opening its log: %w", name, err)
	}
	defer logFile.Close() // the child has its own descriptor once started
	// Only the binary's name: arguments may carry credentials.
	fmt.Fprintf(logFile, "=== devcluster: starting %s (%s) at %s ===\n", name, filepath.Base(bin), time.Now().Format(time.RFC3339))
	offset, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}

	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()

	p := &Process{name: name, logPath: logPath, logOffset: offset, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that forked the child exits, and
		// Go ends a thread whenever a goroutine locked to it returns, which
		// any goroutine running there later might do. Holding the thread
		// until the child has exited means the signal only comes when this
		// whole program dies. (Returning locked then discards the thread.)
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		err := cmd.Wait()
		p.waitErr = err
		if f, ferr := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0); ferr == nil {
			fmt.Fprintf(f, "=== devcluster: %s exited (%s) at %s ===\n", name, exitStatus(err), time.Now().Format(time.RFC3339))
			f.Close()
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	return p, nil
}

// Name is the name given to StartProcess.
func (p *Process) Name() string { return p.name }

// Pid is the process ID, which is also its process group ID.
func (p *Process) Pid() int { return p.pid }

// LogPath is the file receiving the process's stdout and stderr.
func (p *Process) LogPath() string { return p.logPath }

// Exited reports whether the process has exited (and been reaped).
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait blocks until the process exits and returns its exit error, as
// exec.Cmd.Wait does (nil for exit status 0; "signal: killed" after Kill).
func (p *Process) Wait() error {
	<-p.done
	return p.waitErr
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM to the process group and waits up to timeout (<= 0 means
// DefaultStopTimeout) for the process to exit, then SIGKILLs the group. Anything
// left in the group after the process exited is killed too. It returns nil if
// the process exited after SIGTERM (whatever its exit status; see Wait), and an
// error if it had to be killed. Stopping an exited process is a no-op.
func (p *Process) Stop(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	if p.Exited() {
		p.killStragglers()
		return nil
	}
	p.signalGroup(syscall.SIGTERM)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		p.killStragglers()
		return nil
	case <-timer.C:
		p.signalGroup(syscall.SIGKILL)
		<-p.done
		p.killStragglers()
		return fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM and was killed; see %s", p.name, p.pid, timeout, p.logPath)
	}
}

// Kill sends SIGKILL to the process group at once, as a crash would end it, and
// waits until the process is reaped. Killing an exited process is a no-op.
func (p *Process) Kill() error {
	if !p.Exited() {
		p.signalGroup(syscall.SIGKILL)
		<-p.done
	}
	p.killStragglers()
	return nil
}

// killStragglers ends whatever is left in the group of an exited process:
// children that ignored SIGTERM, or that outlived a process that crashed.
func (p *Process) killStragglers() {
	p.reapGroup.Do(func() { p.signalGroup(syscall.SIGKILL) })
}

func (p *Process) signalGroup(sig syscall.Signal) {
	// ESRCH (group already gone) is the expected outcome of a late signal.
	_ = syscall.Kill(-p.pid, sig)
}

// WaitForLogLine waits until a line containing substr appears in this run's
// output (earlier runs appended to the same log are ignored). It fails at once
// if the process exits first, rather than waiting for ctx.
func (p *Process) WaitForLogLine(ctx context.Context, substr string) error {
	s := &logScanner{path: p.logPath, offset: p.logOffset}
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		exited := p.Exited() // read before scanning, so the final output is seen
		if found, err := s.find(substr); err != nil || found {
			return err
		}
		if exited {
			return fmt.Errorf("%s exited (%v) before logging a line containing %q; see %s", p.name, exitStatus(p.waitErr), substr, p.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s logged no line containing %q (see %s): %w", p.name, substr, p.logPath, ctx.Err())
		case <-p.done:
		case <-tick.C:
		}
	}
}

const logPollInterval = 100 * time.Millisecond

// WaitForLogLine polls the file at path until a line contains substr or ctx
// ends. The file need not exist yet.
func WaitForLogLine(ctx context.Context, path, substr string) error {
	s := &logScanner{path: path}
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		if found, err := s.find(substr); err != nil || found {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no line containing %q in %s: %w", substr, path, ctx.Err())
		case <-tick.C:
		}
	}
}

// logScanner reads a growing file incrementally, so polling a large log stays cheap.
type logScanner struct {
	path   string
	offset int64
	carry  []byte // the unfinished last line of the previous read
}

func (s *logScanner) find(substr string) (bool, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return false, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return false, err
	}
	s.offset += int64(len(data))
	window := append(s.carry, data...)
	if bytes.Contains(window, []byte(substr)) {
		return true, nil
	}
	if i := bytes.LastIndexByte(window, '\n'); i >= 0 {
		window = window[i+1:]
	}
	s.carry = bytes.Clone(window)
	return false, nil
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before it is used; Start retries when that happens.
func FreePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct free ports: all are held open until the last is
// picked, so the kernel cannot hand out the same one twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// PortFree checks that addr (host:port) can be listened on, so that a program
// with fixed ports can say which one is taken before starting anything.
func PortFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %s is already in use", addr)
		}
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return l.Close()
}

// tail returns the last n lines of the file at path, each cut to a readable
// length, for error messages that point at a log.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	// The end of the file is enough, and an API server log can be large.
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		_, _ = f.Seek(st.Size()-64<<10, io.SeekStart)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}
