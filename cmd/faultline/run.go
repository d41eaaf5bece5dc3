package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/faultline-go/faultline/input"
	"github.com/faultline-go/faultline/metrics"
	"github.com/faultline-go/faultline/pipeline"
	"github.com/faultline-go/faultline/report"
	"github.com/faultline-go/faultline/sink"
)

// serveFlags are run's own flags.
type serveFlags struct {
	listen, tcp, tokenFile, tlsCert, tlsKey *string
	stdin, ui                               *bool
	alertmanagers, webhooks                 stringList
	maxBody                                 *int64
	maxLine, maxConns                       *int
	readTimeout, writeTimeout, idleTimeout  *time.Duration
	tcpIdle, busy                           *time.Duration
}

// runCommand is faultline run: see the usage and README.md.
func runCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lf := addLiveFlags(fs, "info")
	sf := serveFlags{
		listen:       fs.String("listen", "127.0.0.1:8086", "`ADDR` of the HTTP server: the write APIs, /metrics, /healthz, /-/reload"),
		tcp:          fs.String("tcp", "", "`ADDR` of a line-protocol TCP listener (default: none); it cannot take a token"),
		stdin:        fs.Bool("stdin", false, "read line protocol from standard input too"),
		ui:           fs.Bool("ui", true, "serve the live report at /ui/: what the detectors see, open faults first (about 3 MiB of bounded aggregates; drawn only when requested)"),
		tokenFile:    fs.String("token-file", "", "`FILE` holding the token that writes and reloads require (Authorization: Token … or Bearer …)"),
		tlsCert:      fs.String("tls-cert", "", "certificate `FILE` (PEM): serve HTTPS (and TLS on --tcp), with --tls-key"),
		tlsKey:       fs.String("tls-key", "", "private key `FILE` (PEM) of --tls-cert"),
		maxBody:      fs.Int64("max-body", input.DefaultMaxBodyBytes, "bytes a write request's body may hold, before and after gzip"),
		maxLine:      fs.Int("max-line", input.DefaultMaxLineBytes, "bytes one line may hold"),
		maxConns:     fs.Int("max-conns", input.DefaultMaxConns, "connections open at once, per listener"),
		readTimeout:  fs.Duration("read-timeout", 30*time.Second, "time to read a whole request, body included; must be above 0 (no timeout would let a client that sends slowly hold its connection for ever)"),
		writeTimeout: fs.Duration("write-timeout", 30*time.Second, "time to handle a request and write its answer; must be above 0, as --read-timeout"),
		idleTimeout:  fs.Duration("idle-timeout", 2*time.Minute, "time a kept-alive HTTP connection may wait for its next request; must be above 0, as --read-timeout"),
		tcpIdle:      fs.Duration("tcp-idle-timeout", input.DefaultIdleTimeout, "time a TCP connection may send nothing before it is closed"),
		busy:         fs.Duration("busy-timeout", input.DefaultBusyTimeout, "time a write waits for room in the runtime's queues before a 503"),
	}
	fs.Var(&sf.alertmanagers, "alertmanager", "Alertmanager base `URL` to send alerts to (repeatable)")
	fs.Var(&sf.webhooks, "webhook", "`URL` to POST events to as JSON (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: faultline run [--listen ADDR] [--rules FILE]... [--state FILE] [--alertmanager URL]... [--webhook URL]... [--stdin] [--ui=false] [flags]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !noArgs(fs, stderr) || !lf.inRange(fs, stderr, "max-body", "max-line", "max-conns", "busy-timeout", "tcp-idle-timeout",
		// 0 would be no timeout to net/http: a connection held for ever.
		"read-timeout", "write-timeout", "idle-timeout") {
		return exitUsage
	}
	// Signals are taken before the slow part of the start (the rules, the
	// checkpoint's restore): a SIGHUP then would kill the process, as
	// would a SIGTERM without its clean stop.
	ctx, hup, stopSignals := signals()
	defer stopSignals()
	if (*sf.tlsCert == "") != (*sf.tlsKey == "") {
		fmt.Fprintln(stderr, "faultline run: --tls-cert and --tls-key go together")
		return exitUsage
	}
	if *sf.tcp != "" && *sf.tokenFile != "" {
		fmt.Fprintln(stderr, "faultline run: --tcp cannot require the token of --token-file: line protocol over TCP carries no credentials; write over HTTP instead")
		return exitUsage
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "faultline run: %v\n", err)
		return exitUsage
	}
	token := ""
	if *sf.tokenFile != "" {
		if token, err = readToken(*sf.tokenFile); err != nil {
			fmt.Fprintf(stderr, "faultline run: %v\n", err)
			return exitFail
		}
	}
	var tlsCfg *tls.Config
	if *sf.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*sf.tlsCert, *sf.tlsKey)
		if err != nil {
			// crypto/tls names neither file ("… in key input").
			fmt.Fprintf(stderr, "faultline run: --tls-cert %s, --tls-key %s: %v\n", *sf.tlsCert, *sf.tlsKey, err)
			return exitFail
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	cfg, ok := lf.config(stderr, log)
	if !ok {
		return exitFail
	}
	cfg.Sinks = append(cfg.Sinks, sink.NewJSONLines(stdout, &sink.Options{Name: "stdout", Logger: log}))
	names := map[string]int{}
	sinkName := func(kind, raw string) (string, error) {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", fmt.Errorf("--%s %q: not an http(s) URL", kind, raw)
		}
		name := kind + ":" + u.Host
		if names[name]++; names[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, names[name])
		}
		return name, nil
	}
	for _, u := range sf.alertmanagers {
		name, err := sinkName("alertmanager", u)
		if err != nil {
			fmt.Fprintf(stderr, "faultline run: %v\n", err)
			return exitUsage
		}
		cfg.Sinks = append(cfg.Sinks, sink.NewAlertmanager(u, &sink.AlertmanagerOptions{
			Options: sink.Options{Name: name, Logger: log}, EvalInterval: pipeline.DefaultTick,
		}))
	}
	for _, u := range sf.webhooks {
		name, err := sinkName("webhook", u)
		if err != nil {
			fmt.Fprintf(stderr, "faultline run: %v\n", err)
			return exitUsage
		}
		cfg.Sinks = append(cfg.Sinks, sink.NewWebhook(u, &sink.Options{Name: name, Logger: log}))
	}
	var ui *report.Builder
	if *sf.ui {
		// Every shard's engine reports what its detectors see to the one
		// Builder, which adds the shards up; it sees the merged events.
		ui, err = report.New(report.Options{Title: "faultline run"})
		if err != nil {
			fmt.Fprintf(stderr, "faultline run: %v\n", err)
			return exitFail
		}
		cfg.Engine.Observer = ui
		cfg.Sinks = append(cfg.Sinks, ui)
	}
	rt, err := pipeline.New(cfg)
	if err != nil {
		lf.newError(stderr, err)
		return exitFail
	}

	return serve(ctx, hup, rt, ui, lf, sf, token, tlsCfg, log, stdin)
}

// readToken reads the token of --token-file: the file's one line, without
// the blanks and newlines around it. A token that goes on over another
// line is refused, naming the file and that line: no request could carry
// it in its Authorization header, so every one would be refused.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	raw := string(b)
	token := strings.TrimSpace(raw)
	if token == "" {
		return "", fmt.Errorf("%s holds no token", path)
	}
	if i := strings.IndexAny(token, "\r\n"); i >= 0 {
		at := strings.Index(raw, token) + i
		at += len(raw[at:]) - len(strings.TrimLeft(raw[at:], " \t\r\n")) // the next line's first character
		return "", fmt.Errorf("--token-file %s:%d: the token goes on over another line: a token is one line", path, 1+strings.Count(raw[:at], "\n"))
	}
	return token, nil
}

// serve runs the runtime and its inputs until ctx ends, reloading the rules
// on every value of hup; then it stops the inputs, flushes, checkpoints and
// returns the exit code.
func serve(ctx context.Context, hup <-chan os.Signal, rt *pipeline.Runtime, ui *report.Builder, lf *liveFlags, sf serveFlags,
	token string, tlsCfg *tls.Config, log *slog.Logger, stdin io.Reader) int {
	rl := &reloader{rt: rt, files: lf.ruleFiles, log: log}
	h := input.NewHTTP(rt, input.HTTPOptions{
		Options:      input.Options{MaxLineBytes: *sf.maxLine, Logger: log},
		Token:        token,
		MaxBodyBytes: *sf.maxBody,
		BusyTimeout:  *sf.busy,
	})
	rt.AddMetrics(h)
	rt.AddMetrics(rl)
	rt.AddMetrics(metrics.SourceFunc(buildInfo))

	ln, err := net.Listen("tcp", *sf.listen)
	if err != nil {
		log.Error("cannot listen", "err", err)
		return exitFail
	}
	hln := h.Listen(ln, *sf.maxConns)
	if tlsCfg != nil {
		hln = tls.NewListener(hln, tlsCfg)
	}
	srv := &http.Server{
		Handler:           routes(rt, h, rl, ui),
		ReadHeaderTimeout: min(*sf.readTimeout, 10*time.Second),
		ReadTimeout:       *sf.readTimeout,
		WriteTimeout:      *sf.writeTimeout,
		IdleTimeout:       *sf.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelInfo),
	}

	runCtx, stopRuntime := context.WithCancel(context.Background())
	defer stopRuntime()
	ran := make(chan error, 1)
	go func() { ran <- rt.Run(runCtx) }()

	inputs, stopInputs := context.WithCancel(context.Background())
	defer stopInputs()
	failed := make(chan error, 2)
	go func() {
		if err := srv.Serve(hln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("HTTP server: %w", err)
		}
	}()
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	log.Info("serving the write APIs", "addr", ln.Addr().String(), "scheme", scheme, "token", token != "", "shards", rt.Shards(), "version", version())

	tcpDone := make(chan struct{})
	if *sf.tcp != "" {
		tln, err := net.Listen("tcp", *sf.tcp)
		if err != nil {
			log.Error("cannot listen", "err", err)
			failed <- err
			close(tcpDone) // nothing to wait for at shutdown
		} else {
			if tlsCfg != nil {
				tln = tls.NewListener(tln, tlsCfg)
			}
			t := input.NewTCP(rt, input.TCPOptions{
				Options:  input.Options{MaxLineBytes: *sf.maxLine, Precision: time.Duration(lf.precision), Logger: log},
				MaxConns: *sf.maxConns, IdleTimeout: *sf.tcpIdle,
			})
			rt.AddMetrics(t)
			log.Info("serving line protocol over TCP", "addr", tln.Addr().String())
			go func() {
				defer close(tcpDone)
				if err := t.Serve(inputs, tln); err != nil {
					failed <- fmt.Errorf("TCP listener: %w", err)
				}
			}()
		}
	} else {
		close(tcpDone)
	}
	if *sf.stdin {
		r := input.NewReader(rt, input.Options{MaxLineBytes: *sf.maxLine, Precision: time.Duration(lf.precision), Logger: log})
		rt.AddMetrics(r)
		go func() {
			err := r.Run(inputs, stdin)
			switch {
			case err == nil:
				log.Info("standard input ended; still serving the other inputs")
			case inputs.Err() == nil:
				log.Error("reading standard input failed", "err", err)
			}
		}()
	}

	rl.watch(ctx, hup)
	code := exitOK
loop:
	for {
		select {
		case err := <-failed:
			log.Error("stopping", "err", err)
			code = exitFail
			break loop
		case err := <-ran:
			log.Error("the runtime stopped", "err", err)
			return exitFail
		case <-ctx.Done():
			log.Info("stopping: flushing, checkpointing")
			break loop
		}
	}
	rl.stopping()
	// Inputs first, so that what they took is processed; then the runtime:
	// it drains, checkpoints and closes the sinks.
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Warn("closing the HTTP server", "err", err)
		_ = srv.Close()
	}
	stopInputs()
	<-tcpDone
	stopRuntime()
	if stoppedCode(log, <-ran) != exitOK {
		return exitFail
	}
	log.Info("stopped")
	return code
}

// routes is run's HTTP API, and the live report at /ui/ when ui is not
// nil. Like /metrics, the report is readable without the token: it holds
// no more than the events on stdout do.
func routes(rt *pipeline.Runtime, h *input.HTTP, rl *reloader, ui *report.Builder) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v2/write", h)
	mux.Handle("/write", h)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = metrics.WriteText(w, rt.AppendMetrics(nil))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	ping := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Influxdb-Version", "faultline "+version())
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("GET /ping", ping)
	mux.HandleFunc("HEAD /ping", ping)
	mux.Handle("POST /-/reload", h.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := rl.reload(r.Context()); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, err.Error()+"\n")
			return
		}
		_, _ = io.WriteString(w, "rules reloaded\n")
	})))
	if ui != nil {
		mux.Handle("GET /ui/", http.StripPrefix("/ui", report.Live(ui, 0)))
	}
	return mux
}
