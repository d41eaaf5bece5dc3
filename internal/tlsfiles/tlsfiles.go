// Package tlsfiles builds the TLS configuration of a client from the files
// an operator names: the CA to trust, the client's certificate and key.
// The adapters that dial brokers (MQTT, Kafka) share it. It must not know
// which protocol runs over the connection.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Client returns a client's tls.Config (TLS 1.2 or newer): trusting the
// PEM certificates of caFile (by default the system's roots), presenting
// the PEM certificate and key of certFile and keyFile (both or neither),
// and expecting serverName in the server's certificate (by default the
// host dialled). insecure accepts any certificate: for tests only.
func Client(caFile, certFile, keyFile, serverName string, insecure bool) (*tls.Config, error) {
	c := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // InsecureSkipVerify is the operator's explicit choice
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("CertFile and KeyFile go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
