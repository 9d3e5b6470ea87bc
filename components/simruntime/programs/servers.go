package programs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// Simulated servers. They print start-up lines in the format the real
// programs use (so `kubectl logs` looks familiar), run until stopped, and
// shut down cleanly with exit status 0 when PID 1 receives the image's
// stop signal. Started any other way (as a child of "sh -c"), they never
// see the signal and are killed at the end of the grace period, exactly
// the trap learners fall into with real images.

// progEntrypoint is the docker-entrypoint.sh of the image it runs in.
func progEntrypoint(p *machine.Process) int {
	args := p.Argv[1:]
	script := p.Argv[0]
	switch p.Machine.Image.Family() {
	case "nginx":
		if len(args) > 0 && (args[0] == "nginx" || args[0] == "nginx-debug") && p.Getenv("NGINX_ENTRYPOINT_QUIET_LOGS") == "" {
			nginxEntrypointNotices(p, script)
		}
	case "redis":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") || strings.HasSuffix(args[0], ".conf") {
			args = append([]string{"redis-server"}, args...)
		}
		if args[0] == "redis-server" {
			p.User = "redis"
		}
	case "postgres":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			args = append([]string{"postgres"}, args...)
		}
		if args[0] == "postgres" {
			if code, ok := postgresInit(p); !ok {
				return code
			}
			p.User = "postgres"
		}
	}
	return p.Exec(script, args)
}

func nginxEntrypointNotices(p *machine.Process, script string) {
	out := p.IO.Out
	d := "/docker-entrypoint.d/"
	fmt.Fprintf(out, "%s: %s is not empty, will attempt to perform configuration\n", script, d)
	fmt.Fprintf(out, "%s: Looking for shell scripts in %s\n", script, d)
	fmt.Fprintf(out, "%s: Launching %s10-listen-on-ipv6-by-default.sh\n", script, d)
	const conf = "/etc/nginx/conf.d/default.conf"
	if host, mt := p.Machine.HostPath(conf); host != "" && mt.GetReadonly() {
		fmt.Fprintf(out, "10-listen-on-ipv6-by-default.sh: info: can not modify %s (read-only file system?)\n", conf)
	} else if host != "" {
		fmt.Fprintf(out, "10-listen-on-ipv6-by-default.sh: info: %s differs from the packaged version\n", conf)
	} else {
		fmt.Fprintf(out, "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of %s\n", conf)
		fmt.Fprintf(out, "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in %s\n", conf)
	}
	fmt.Fprintf(out, "%s: Sourcing %s15-local-resolvers.envsh\n", script, d)
	fmt.Fprintf(out, "%s: Launching %s20-envsubst-on-templates.sh\n", script, d)
	fmt.Fprintf(out, "%s: Launching %s30-tune-worker-processes.sh\n", script, d)
	fmt.Fprintf(out, "%s: Configuration complete; ready for start up\n", script)
}

func progNginx(p *machine.Process) int {
	version := p.Machine.Image.SoftwareVersion("nginx", "1.27.3")
	daemonOff := false
	args := p.Argv[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-v":
			fmt.Fprintf(p.IO.Err, "nginx version: nginx/%s\n", version)
			return 0
		case "-V":
			fmt.Fprintf(p.IO.Err, "nginx version: nginx/%s\nbuilt by %s\nconfigure arguments: --prefix=/etc/nginx --sbin-path=/usr/sbin/nginx\n", version, p.Machine.Image.OS.Compiler)
			return 0
		case "-t", "-T":
			fmt.Fprintf(p.IO.Err, "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n")
			return 0
		case "-s":
			fmt.Fprintf(p.IO.Err, "%s [notice] %d#%d: signal process started\n", nginxTime(p), p.PID, p.PID)
			fmt.Fprintf(p.IO.Err, "%s [error] %d#%d: open() \"/run/nginx.pid\" failed (2: No such file or directory)\n", nginxTime(p), p.PID, p.PID)
			return 1
		case "-g":
			if i+1 < len(args) {
				i++
				if strings.Contains(strings.Join(strings.Fields(args[i]), " "), "daemon off") {
					daemonOff = true
				}
			}
		case "-c", "-p", "-e":
			i++
		}
	}
	if !daemonOff {
		// nginx forks a daemon and the foreground process exits at once,
		// so a container whose command is a bare "nginx" completes.
		return 0
	}
	pid := p.PID
	notice := func(who int, format string, args ...any) {
		fmt.Fprintf(p.IO.Err, "%s [notice] %d#%d: %s\n", nginxTime(p), who, who, fmt.Sprintf(format, args...))
	}
	notice(pid, `using the "epoll" event method`)
	notice(pid, "nginx/%s", version)
	notice(pid, "built by %s", p.Machine.Image.OS.Compiler)
	notice(pid, "OS: Linux %s", p.Machine.Kernel.Release)
	notice(pid, "getrlimit(RLIMIT_NOFILE): 1048576:1048576")
	startWorkers := func() []int {
		notice(pid, "start worker processes")
		ws := []int{p.Machine.NewPID() + 27, p.Machine.NewPID() + 27}
		for _, w := range ws {
			notice(pid, "start worker process %d", w)
		}
		return ws
	}
	workers := startWorkers()
	defer p.ListenPorts(nginxHandler(p, version), NginxPort)()
	for {
		s, ok := p.AwaitSignal(machine.SIGTERM, machine.SIGINT, machine.SIGQUIT, machine.SIGHUP)
		if !ok {
			return machine.ExitKilled
		}
		switch s {
		case machine.SIGHUP:
			notice(pid, "signal 1 (SIGHUP) received from 0, reconfiguring")
			notice(pid, "reconfiguring")
			notice(pid, `using the "epoll" event method`)
			old := workers
			workers = startWorkers()
			for _, w := range old {
				notice(w, "gracefully shutting down")
				notice(w, "exiting")
				notice(w, "exit")
			}
			continue
		case machine.SIGQUIT:
			notice(pid, "signal 3 (SIGQUIT) received from 0, shutting down")
			for _, w := range workers {
				notice(w, "gracefully shutting down")
				notice(w, "exiting")
				notice(w, "exit")
			}
		default:
			notice(pid, "signal %d (%s) received from 0, exiting", int(s), s)
			for _, w := range workers {
				notice(w, "exiting")
				notice(w, "exit")
			}
		}
		for _, w := range workers {
			notice(pid, "signal 17 (SIGCHLD) received from %d", w)
			notice(pid, "worker process %d exited with code 0", w)
		}
		notice(pid, "exit")
		return 0
	}
}

func nginxTime(p *machine.Process) string { return p.Machine.Now().UTC().Format("2006/01/02 15:04:05") }

func progHttpd(p *machine.Process) int {
	version := p.Machine.Image.SoftwareVersion("httpd", "2.4.62")
	foreground := false
	args := p.Argv[1:]
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-v":
			fmt.Fprintf(p.IO.Out, "Server version: Apache/%s (Unix)\nServer built:   Jul 17 2024 00:00:00\n", version)
			return 0
		case args[i] == "-DFOREGROUND":
			foreground = true
		case args[i] == "-D" && i+1 < len(args):
			i++
			foreground = foreground || args[i] == "FOREGROUND"
		}
	}
	if !foreground {
		return 0
	}
	ip := p.Machine.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	stamp := func() string { return p.Machine.Now().UTC().Format("Mon Jan 02 15:04:05.000000 2006") }
	log := func(module, msg string) {
		fmt.Fprintf(p.IO.Err, "[%s] [%s] [pid %d:tid %d] %s\n", stamp(), module, p.PID, p.PID, msg)
	}
	fqdn := fmt.Sprintf("AH00558: httpd: Could not reliably determine the server's fully qualified domain name, using %s. Set the 'ServerName' directive globally to suppress this message\n", ip)
	fmt.Fprintf(p.IO.Err, "%s%s", fqdn, fqdn)
	cmdline := "httpd " + strings.Join(args, " ")
	configured := func() {
		log("mpm_event:notice", fmt.Sprintf("AH00489: Apache/%s (Unix) configured -- resuming normal operations", version))
		log("core:notice", fmt.Sprintf("AH00094: Command line: '%s'", strings.Replace(cmdline, "-DFOREGROUND", "-D FOREGROUND", 1)))
	}
	configured()
	for {
		s, ok := p.AwaitSignal(machine.SIGTERM, machine.SIGINT, machine.SIGWINCH, machine.SIGHUP, machine.SIGUSR1)
		if !ok {
			return machine.ExitKilled
		}
		switch s {
		case machine.SIGHUP, machine.SIGUSR1:
			if s == machine.SIGHUP {
				log("mpm_event:notice", "AH00493: SIGHUP received.  Attempting to restart")
			} else {
				log("mpm_event:notice", "AH00494: SIGUSR1 received.  Doing graceful restart")
			}
			fmt.Fprintf(p.IO.Err, "%s", fqdn)
			configured()
			continue
		case machine.SIGWINCH:
			log("mpm_event:notice", "AH00492: caught SIGWINCH, shutting down gracefully")
		default:
			log("mpm_event:notice", "AH00491: caught SIGTERM, shutting down")
		}
		return 0
	}
}

func progRedis(p *machine.Process) int {
	version := p.Machine.Image.SoftwareVersion("redis", "7.4.1")
	port := 6379
	configFile := ""
	args := p.Argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-v" || a == "--version":
			fmt.Fprintf(p.IO.Out, "Redis server v=%s sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=3e5b5f1f1b4b8a0d\n", version)
			return 0
		case a == "--port" && i+1 < len(args):
			i++
			if n, err := strconv.Atoi(args[i]); err == nil {
				port = n
			}
		case i == 0 && !strings.HasPrefix(a, "-"):
			configFile = a
		}
	}
	pid := p.PID
	ts := func() string { return p.Machine.Now().UTC().Format("02 Jan 2006 15:04:05.000") }
	logf := func(role, level, format string, a ...any) {
		fmt.Fprintf(p.IO.Out, "%d:%s %s %s %s\n", pid, role, ts(), level, fmt.Sprintf(format, a...))
	}
	logf("C", "*", "oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo")
	logf("C", "*", "Redis version=%s, bits=64, commit=00000000, modified=0, pid=%d, just started", version, pid)
	if configFile == "" {
		logf("C", "#", "Warning: no config file specified, using the default config. In order to specify a config file use redis-server /path/to/redis.conf")
	} else {
		logf("C", "*", "Configuration loaded")
	}
	logf("M", "*", "monotonic clock: POSIX clock_gettime")
	logf("M", "*", "Running mode=standalone, port=%d.", port)
	logf("M", "*", "Server initialized")
	logf("M", "*", "Ready to accept connections tcp")
	defer p.ListenPorts(redisHandler(), redisPort)()
	s, ok := p.AwaitSignal(machine.SIGTERM, machine.SIGINT)
	if !ok {
		return machine.ExitKilled
	}
	fmt.Fprintf(p.IO.Out, "%d:signal-handler (%d) Received %s scheduling shutdown...\n", pid, p.Machine.Now().Unix(), s)
	logf("M", "*", "User requested shutdown...")
	logf("M", "*", "Saving the final RDB snapshot before exiting.")
	logf("M", "*", "DB saved on disk")
	logf("M", "#", "Redis is now ready to exit, bye bye...")
	return 0
}

// postgresInit is the database initialisation the postgres image's
// entrypoint performs on an empty data directory. It refuses to create a
// superuser without a password, a classic first-day error.
func postgresInit(p *machine.Process) (int, bool) {
	if p.Getenv("POSTGRES_PASSWORD") == "" && p.Getenv("POSTGRES_HOST_AUTH_METHOD") != "trust" {
		e := p.IO.Err
		fmt.Fprintf(e, "Error: Database is uninitialized and superuser password is not specified.\n")
		fmt.Fprintf(e, "       Set POSTGRES_PASSWORD to a non-empty value for the superuser,\n")
		fmt.Fprintf(e, "       for example with an env entry or a Secret in the pod spec.\n\n")
		fmt.Fprintf(e, "       POSTGRES_HOST_AUTH_METHOD=trust allows all connections without a\n")
		fmt.Fprintf(e, "       password instead; that is *not* recommended.\n")
		return 1, false
	}
	o := p.IO.Out
	data := p.Getenv("PGDATA")
	if data == "" {
		data = "/var/lib/postgresql/data"
	}
	fmt.Fprintf(o, "The files belonging to this database system will be owned by user \"postgres\".\n")
	fmt.Fprintf(o, "This user must also own the server process.\n\n")
	fmt.Fprintf(o, "The database cluster will be initialized with locale \"en_US.utf8\".\n")
	fmt.Fprintf(o, "The default database encoding has accordingly been set to \"UTF8\".\n\n")
	fmt.Fprintf(o, "fixing permissions on existing directory %s ... ok\n", data)
	fmt.Fprintf(o, "creating subdirectories ... ok\n")
	fmt.Fprintf(o, "creating configuration files ... ok\n")
	fmt.Fprintf(o, "running bootstrap script ... ok\n")
	fmt.Fprintf(o, "performing post-bootstrap initialization ... ok\n")
	fmt.Fprintf(o, "syncing data to disk ... ok\n\n")
	if !p.Machine.Sleep(300 * time.Millisecond) {
		return machine.ExitKilled, false
	}
	fmt.Fprintf(o, "\nPostgreSQL init process complete; ready for start up.\n\n")
	return 0, true
}

func progPostgres(p *machine.Process) int {
	version := p.Machine.Image.SoftwareVersion("postgres", "17.2")
	for _, a := range p.Argv[1:] {
		if a == "--version" || a == "-V" {
			fmt.Fprintf(p.IO.Out, "postgres (PostgreSQL) %s (Debian %s-1.pgdg120+1)\n", version, version)
			return 0
		}
	}
	if p.User == "root" {
		fmt.Fprintf(p.IO.Err, "\"root\" execution of the PostgreSQL server is not permitted.\n")
		fmt.Fprintf(p.IO.Err, "The server must be started under an unprivileged user ID to prevent\npossible system security compromise.  See the documentation for\nmore information on how to properly start the server.\n")
		return 1
	}
	pid := p.PID
	ts := func() string { return p.Machine.Now().UTC().Format("2006-01-02 15:04:05.000 MST") }
	logf := func(who int, format string, a ...any) {
		fmt.Fprintf(p.IO.Err, "%s [%d] LOG:  %s\n", ts(), who, fmt.Sprintf(format, a...))
	}
	checkpointer, launcher := p.Machine.NewPID()+60, p.Machine.NewPID()+62
	logf(pid, "starting PostgreSQL %s (Debian %s-1.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit", version, version)
	logf(pid, `listening on IPv4 address "0.0.0.0", port 5432`)
	logf(pid, `listening on IPv6 address "::", port 5432`)
	logf(pid, `listening on Unix socket "/var/run/postgresql/.s.PGSQL.5432"`)
	logf(checkpointer+2, "database system was shut down at %s", ts())
	logf(pid, "database system is ready to accept connections")
	s, ok := p.AwaitSignal(machine.SIGTERM, machine.SIGINT, machine.SIGQUIT)
	if !ok {
		return machine.ExitKilled
	}
	switch s {
	case machine.SIGTERM:
		logf(pid, "received smart shutdown request")
	case machine.SIGINT:
		logf(pid, "received fast shutdown request")
		logf(pid, "aborting any active transactions")
	case machine.SIGQUIT:
		logf(pid, "received immediate shutdown request")
		logf(pid, "database system is shut down")
		return 0
	}
	logf(pid, `background worker "logical replication launcher" (PID %d) exited with exit code 1`, launcher)
	logf(checkpointer, "shutting down")
	logf(checkpointer, "checkpoint starting: shutdown immediate")
	logf(checkpointer, "checkpoint complete: wrote 3 buffers (0.0%%); 0 WAL file(s) added, 0 removed, 0 recycled")
	logf(pid, "database system is shut down")
	return 0
}

// progPause is the sandbox's pause binary, in case someone runs the image
// as an ordinary container.
// progAgnhost is Kubernetes' e2e test image's program. Of its
// subcommands only pause is simulated: it prints "Paused" and waits,
// ending with exit 1 at SIGINT and 2 at SIGTERM, as agnhost does (so a
// deleted dnsutils Pod's container ends in Error, exit code 2).
func progAgnhost(p *machine.Process) int {
	if len(p.Argv) < 2 {
		fmt.Fprintf(p.IO.Out, "Usage:\n  agnhost [command]\n\nUse \"agnhost [command] --help\" for more information about a command.\n")
		return 0
	}
	if p.Argv[1] != "pause" {
		fmt.Fprintf(p.IO.Err, "agnhost %s: not supported by the simulated runtime (only agnhost pause is); use --runtime containerd\n", p.Argv[1])
		return 1
	}
	fmt.Fprintln(p.IO.Out, "Paused")
	s, ok := p.AwaitSignal(machine.SIGTERM, machine.SIGINT)
	if !ok {
		return machine.ExitKilled
	}
	if s == machine.SIGINT {
		return 1
	}
	return 2
}

func progPause(p *machine.Process) int {
	if !p.PID1 {
		fmt.Fprintf(p.IO.Err, "Warning: pause should be the first process\n")
	}
	s, ok := p.AwaitSignal(machine.SIGTERM, machine.SIGINT)
	if !ok {
		return machine.ExitKilled
	}
	name := "Terminated"
	if s == machine.SIGINT {
		name = "Interrupt"
	}
	fmt.Fprintf(p.IO.Err, "Shutting down, got signal: %s\n", name)
	return 0
}
