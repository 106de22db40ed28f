package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// tlsSettings is a server's TLS as Direktiv's Go code would configure it. Every field left empty is Go's default,
// which is what Direktiv v0.4 leaves it at: no MinVersion (a Go 1.19 server accepts TLS 1.0), no CipherSuites.
type tlsSettings struct {
	CertPEM      string   `json:"cert_pem"`      // tls.crt: the leaf, then any intermediates
	KeyPEM       string   `json:"key_pem"`       // tls.key
	ClientCAPEM  string   `json:"client_ca_pem"` // ca.crt: ClientCAs
	ClientAuth   string   `json:"client_auth"`   // a key of clientAuthModes ("" = none)
	MinVersion   string   `json:"min_version"`   // "" (Go's default), TLSv1, TLSv1.1, TLSv1.2, TLSv1.3
	CipherSuites []string `json:"cipher_suites"` // Go/IANA names; empty: Go's default list
	ALPN         bool     `json:"alpn"`          // false: no ALPN is negotiated at all
	LeafOnly     bool     `json:"leaf_only"`     // send the leaf without the intermediates of tls.crt
	IgnoreErrors []string `json:"ignore_errors"` // verification error kinds let through (kind* constants)
}

var versions = map[string]uint16{
	"":        0,
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

var clientAuthModes = map[string]tls.ClientAuthType{
	"":                   tls.NoClientCert,
	"none":               tls.NoClientCert,
	"request":            tls.RequestClientCert,
	"require-any":        tls.RequireAnyClientCert,
	"verify-if-given":    tls.VerifyClientCertIfGiven,
	"require-and-verify": tls.RequireAndVerifyClientCert,
}

// serverTLS builds the tls.Config; nil settings mean a plaintext listener (nil config).
func serverTLS(s *tlsSettings) (*tls.Config, error) {
	if s == nil {
		return nil, nil
	}
	pair, err := tls.X509KeyPair([]byte(s.CertPEM), []byte(s.KeyPEM))
	if err != nil {
		return nil, err // Go's own words, e.g. "tls: private key does not match public key"
	}
	if s.LeafOnly {
		pair.Certificate = pair.Certificate[:1]
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}}
	min, ok := versions[s.MinVersion]
	if !ok {
		return nil, fmt.Errorf("min_version must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, given: %q", s.MinVersion)
	}
	config.MinVersion = min
	if config.CipherSuites, err = suiteIDs(s.CipherSuites); err != nil {
		return nil, err
	}
	if err := configureClientAuth(config, s); err != nil {
		return nil, err
	}
	return config, nil
}

// suiteIDs maps Go/IANA suite names to IDs; no names means nil (Go's default list).
func suiteIDs(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return nil, nil
	}
	known := map[string]uint16{}
	for _, suite := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[suite.Name] = suite.ID
	}
	ids := make([]uint16, 0, len(names))
	for _, name := range names {
		id, ok := known[name]
		if !ok {
			all := make([]string, 0, len(known))
			for n := range known {
				all = append(all, n)
			}
			sort.Strings(all)
			return nil, fmt.Errorf("unknown cipher suite %q; Go knows %s", name, strings.Join(all, ", "))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func configureClientAuth(config *tls.Config, s *tlsSettings) error {
	mode, ok := clientAuthModes[s.ClientAuth]
	if !ok {
		return fmt.Errorf("client_auth must be none, request, require-any, verify-if-given or require-and-verify, "+
			"given: %q", s.ClientAuth)
	}
	config.ClientAuth = mode
	verifying := mode == tls.VerifyClientCertIfGiven || mode == tls.RequireAndVerifyClientCert
	if s.ClientCAPEM == "" {
		if verifying {
			return errors.New("client_auth " + s.ClientAuth + " needs client_ca_pem (the secret's ca.crt)")
		}
		return nil
	}
	roots, err := parseCertificates(s.ClientCAPEM)
	if err != nil {
		return fmt.Errorf("client_ca_pem: %v", err)
	}
	config.ClientCAs = x509.NewCertPool()
	for _, root := range roots {
		config.ClientCAs.AddCert(root)
	}
	if len(s.IgnoreErrors) == 0 {
		return nil
	}
	if !verifying {
		return errors.New("ignore_errors needs a verifying client_auth (verify-if-given or require-and-verify)")
	}
	ignore, err := errorKinds(s.IgnoreErrors)
	if err != nil {
		return err
	}
	// A lax verifier: crypto/tls only asks for (or requires) a certificate, the callback verifies it.
	if mode == tls.RequireAndVerifyClientCert {
		config.ClientAuth = tls.RequireAnyClientCert
	} else {
		config.ClientAuth = tls.RequestClientCert
	}
	config.VerifyPeerCertificate = laxVerifier(roots, ignore)
	return nil
}

func parseCertificates(bundle string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}
