package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// The verification error kinds a lax client verifier may let through (the Python side's VerifyErrorKind).
const (
	kindUnknownIssuer = "unknown-issuer" // signed by a CA that is not in ClientCAs
	kindSelfSigned    = "self-signed"    // the leaf (or the last certificate sent) signed itself
	kindExpired       = "expired"        // outside its validity window (expired or not yet valid)
	kindWrongPurpose  = "wrong-purpose"  // its ExtKeyUsage does not allow clientAuth
)

func errorKinds(names []string) (map[string]bool, error) {
	kinds := map[string]bool{}
	for _, name := range names {
		switch name {
		case kindUnknownIssuer, kindSelfSigned, kindExpired, kindWrongPurpose:
			kinds[name] = true
		default:
			return nil, fmt.Errorf("ignore_errors: unknown kind %q (unknown-issuer, self-signed, expired, wrong-purpose)", name)
		}
	}
	return kinds, nil
}

// laxVerifier is a VerifyPeerCertificate callback that verifies the client's chain as crypto/tls does for
// RequireAndVerifyClientCert (ClientCAs as roots, the rest of the chain as intermediates, usage clientAuth) and
// lets through the errors of the ignored kinds only: every other check still applies.
func laxVerifier(roots []*x509.Certificate, ignore map[string]bool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return nil // verify-if-given and nothing sent; a required certificate was enforced by crypto/tls
		}
		chain := make([]*x509.Certificate, 0, len(raw))
		for _, der := range raw {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return errors.New("tls: failed to parse client certificate: " + err.Error())
			}
			chain = append(chain, cert)
		}
		now := time.Now()
		anchors := roots
		if ignore[kindExpired] {
			chain, anchors = timeless(chain, now), timeless(roots, now)
		}
		opts := x509.VerifyOptions{
			Roots:         pool(anchors),
			Intermediates: pool(chain[1:]),
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if ignore[kindWrongPurpose] {
			opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		}
		_, err := chain[0].Verify(opts)
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) && ignore[untrustedKind(chain)] {
			return leafChecks(chain[0], now, ignore) // no chain to check; the leaf's own facts still count
		}
		return err
	}
}

// timeless copies certificates with a validity window around now: signatures are checked over the unchanged
// RawTBSCertificate, so only the time checks are switched off (for each certificate, as OpenSSL's ignored
// X509_V_ERR_CERT_HAS_EXPIRED would be).
func timeless(certs []*x509.Certificate, now time.Time) []*x509.Certificate {
	out := make([]*x509.Certificate, len(certs))
	for i, cert := range certs {
		widened := *cert
		widened.NotBefore, widened.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
		out[i] = &widened
	}
	return out
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, cert := range certs {
		p.AddCert(cert)
	}
	return p
}

func selfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) &&
		cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}

// untrustedKind names why a chain has no trusted issuer: a self-signed leaf or last certificate (OpenSSL's
// "self-signed certificate (in chain)"), else an unknown issuer ("unable to get local issuer certificate").
func untrustedKind(chain []*x509.Certificate) string {
	if selfSigned(chain[0]) || selfSigned(chain[len(chain)-1]) {
		return kindSelfSigned
	}
	return kindUnknownIssuer
}

func leafChecks(leaf *x509.Certificate, now time.Time, ignore map[string]bool) error {
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}
	}
	if !ignore[kindWrongPurpose] && !allowsClientAuth(leaf) {
		return x509.CertificateInvalidError{Cert: leaf, Reason: x509.IncompatibleUsage}
	}
	return nil
}

func allowsClientAuth(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, usage := range cert.ExtKeyUsage {
		if usage == x509.ExtKeyUsageClientAuth || usage == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}
