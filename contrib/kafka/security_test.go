package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/faultline-go/faultline/clock"
	"github.com/faultline-go/faultline/fault"
	"github.com/faultline-go/faultline/rules"
)

// selfSigned returns a certificate for 127.0.0.1 and the path of its PEM.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca
}

// TestSASLAndTLSFromTheConfig runs a worker against a cluster that wants
// TLS and SCRAM-SHA-256: with the CA and the credentials from the config
// it processes a record and its event reaches the events topic; with a
// wrong password Run ends at once with the brokers' refusal.
func TestSASLAndTLSFromTheConfig(t *testing.T) {
	t.Parallel()
	cert, ca := selfSigned(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "faultline", "s3cret"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.SeedTopics(2, "in", "events", "state"), kfake.SeedTopics(1, "fleet"))
	require.NoError(t, err)
	t.Cleanup(c.Close)

	rs := []rules.Source{{Name: "hot.yaml", Data: []byte("groups:\n  - name: g\n    rules:\n      - alert: Hot\n        match: temp\n        expr: value > 80\n")}}
	cfg := Config{Brokers: c.ListenAddrs(), Group: "g", Topic: "in", EventsTopic: "events", StateTopic: "state", FleetTopic: "fleet",
		Rules: rs, Clock: clock.NewFake(t0.Add(time.Second)),
		SASL: SASL{Mechanism: "SCRAM-SHA-256", User: "faultline", Password: "s3cret"},
		TLS:  TLS{CAFile: ca}}

	bad := cfg
	bad.SASL.Password = "wrong"
	w, err := New(bad)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = w.Run(ctx)
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "refused at once, not after retrying: %v", err)

	w, err = New(cfg)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	tc, err := cfg.TLS.load()
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DialTLSConfig(tc),
		kgo.SASL(scram.Auth{User: "faultline", Pass: "s3cret"}.AsSha256Mechanism()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"events": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Key: []byte("a"), Value: fmt.Appendf(nil, "temp,device=a value=95 %d", t0.UnixNano())}).FirstErr())
	fs := cl.PollFetches(ctx)
	require.NoError(t, fs.Err())
	recs := fs.Records()
	require.Len(t, recs, 1)
	ev, err := ParseEvent(recs[0].Value)
	require.NoError(t, err)
	require.Equal(t, fault.KindThreshold, ev.Kind)
	require.Equal(t, fault.StateFiring, ev.State)
	stop()
	require.NoError(t, <-done)
}
