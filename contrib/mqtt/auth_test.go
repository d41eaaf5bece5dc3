package mqtt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/contrib/mqtt"
	"github.com/faultline-go/faultline/pipeline"
)

// passwordFile writes a Mosquitto password file with mosquitto_passwd.
func passwordFile(t *testing.T, user, password string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		bin = "/usr/bin/mosquitto_passwd"
	}
	path := filepath.Join(t.TempDir(), "passwd")
	out, err := exec.Command(bin, "-b", "-c", path, user, password).CombinedOutput()
	require.NoError(t, err, "mosquitto_passwd (package mosquitto): %s", out)
	return path
}

// runOnce runs a client with cfg until it ends or the timeout passes,
// and returns Run's error, how long it took and the client's stats.
func runOnce(t *testing.T, cfg mqtt.Config, timeout time.Duration) (error, time.Duration, mqtt.Stats) {
	t.Helper()
	c, err := mqtt.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err = c.Run(ctx, nil)
	return err, time.Since(start), c.Stats()
}

// A password file: the right password connects; a wrong one, or none, is
// refused at once with an error that says so, after one attempt, not
// retried in silence.
func TestWrongPasswordIsAClearError(t *testing.T) {
	b := startBroker(t, brokerOpts{passwordFile: passwordFile(t, "collector", "s3cret")})
	cfg := mqtt.Config{Broker: b.url(), ClientID: "auth", Username: "collector", Password: "s3cret", Backoff: backoff}

	err, took, st := runOnce(t, cfg, 2*time.Second)
	require.NoError(t, err, "the right password: Run ends only with its context")
	require.GreaterOrEqual(t, took, 2*time.Second)
	require.Equal(t, uint64(1), st.Connects)
	require.Zero(t, st.ConnectErrs)

	for _, pw := range []string{"wrong", ""} {
		cfg.Password = pw
		err, took, st = runOnce(t, cfg, 20*time.Second)
		require.ErrorIs(t, err, mqtt.ErrRefused, "password %q", pw)
		require.Contains(t, err.Error(), `as client "auth", user "collector"`)
		require.True(t, strings.Contains(err.Error(), "not Authorized") || strings.Contains(err.Error(), "bad user name or password"), "%v", err)
		require.Less(t, took, 5*time.Second, "refused at once, not after retries")
		require.Equal(t, uint64(1), st.ConnectErrs, "one attempt")
		require.Zero(t, st.Connects)
		t.Logf("password %q: %v", pw, err)
	}
}

// A refusal met while reconnecting ends Run too: the password changed at
// the broker while the client was connected, the broker restarted, and
// the client's reconnection is refused. Run returns ErrRefused instead of
// retrying forever.
func TestRefusedReconnectionEndsRun(t *testing.T) {
	pw := passwordFile(t, "collector", "s3cret")
	b := startBroker(t, brokerOpts{passwordFile: pw})
	c, err := mqtt.New(mqtt.Config{Broker: b.url(), ClientID: "auth", Username: "collector", Password: "s3cret", Backoff: backoff})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background(), nil) }()
	waitFor(t, 10*time.Second, func() bool { return c.Stats().Connected }, "connected")
	out, err := exec.Command("mosquitto_passwd", "-b", pw, "collector", "changed").CombinedOutput()
	require.NoError(t, err, "%s", out)
	b.restart()
	select {
	case err := <-done:
		require.ErrorIs(t, err, mqtt.ErrRefused)
		t.Logf("after %d connection errors: %v", c.Stats().ConnectErrs, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run goes on retrying a refused reconnection")
	}
	require.Equal(t, uint64(1), c.Stats().Connects)
	require.Equal(t, uint64(1), c.Stats().Lost)
}

// TLS from the configuration: a broker's certificate signed by the CA in
// TLS.CAFile is accepted; without that CA, verification fails and Run ends
// at once with the TLS error, without retrying.
func TestTLSFromTheConfig(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)
	b := startBroker(t, brokerOpts{tls: []string{ca, cert, key}})
	url := strings.Replace(b.url(), "tcp://", "ssl://", 1)

	cfg := mqtt.Config{Broker: url, ClientID: "tls", TLS: mqtt.TLS{CAFile: ca}, Backoff: backoff}
	err, _, st := runOnce(t, cfg, time.Second)
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Connects, "connected over TLS")

	cfg.TLS = mqtt.TLS{}
	err, took, st := runOnce(t, cfg, 20*time.Second)
	require.Error(t, err)
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	require.True(t, errors.As(err, &unknown) || errors.As(err, &verify), "%v", err)
	require.Contains(t, err.Error(), "mqtt: TLS with ssl://127.0.0.1:")
	require.Less(t, took, 5*time.Second)
	require.Equal(t, uint64(1), st.ConnectErrs)

	_, err = mqtt.New(mqtt.Config{Broker: url, ClientID: "tls", TLS: mqtt.TLS{CAFile: filepath.Join(dir, "missing.pem")}})
	require.ErrorContains(t, err, "missing.pem")
}

// writeCerts writes a CA and a certificate for 127.0.0.1 that it signed,
// as PEM files, and returns their paths: ca, cert, key.
func writeCerts(t *testing.T, dir string) (string, string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "faultline test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server.key", "EC PRIVATE KEY", keyDER)
}

// The package doc's own setup: the runtime runs (so it has started the
// Publisher) and the client's password is wrong. Run must end at once with
// ErrRefused, not wait Drain for a Publisher that only the runtime's
// shutdown closes. The client's clock is virtual and never advanced: a
// wait for Drain never ends.
func TestRefusedEndsRunAtOnceWithTheRuntimeRunning(t *testing.T) {
	b := startBroker(t, brokerOpts{passwordFile: passwordFile(t, "collector", "s3cret")})
	clk := clock.NewFake(t0)
	c, err := mqtt.New(mqtt.Config{Broker: b.url(), ClientID: "auth", Username: "collector", Password: "wrong",
		Backoff: backoff, Clock: clk})
	require.NoError(t, err)
	rt, err := pipeline.New(pipeline.Config{Sinks: []pipeline.Sink{c.Publisher()}, Clock: clk, Drain: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rtDone := make(chan error, 1)
	go func() { rtDone <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-rtDone })
	// The runtime has started its sinks once it answers a Sync.
	require.NoError(t, rt.Sync(ctx))

	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rt) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, mqtt.ErrRefused)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end on a refused connection: it waits Drain for the Publisher, which the running runtime never closes")
	}
}
