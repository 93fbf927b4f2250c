package admission

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CertOptions describe the development certificates: a CA, and a serving certificate it signs for the
// webhook's Service (and any extra hosts).
type CertOptions struct {
	// Service and Namespace name the Service the API server calls: the certificate is valid for
	// SERVICE.NAMESPACE.svc and its other in-cluster names.
	Service, Namespace string
	// Hosts are extra DNS names or IP addresses (127.0.0.1 for a webhook called by URL).
	Hosts []string
	// Validity of both certificates (default one year).
	Validity time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Certs are PEM-encoded certificates and keys.
type Certs struct {
	CACert, CAKey []byte
	Cert, Key     []byte
}

// DNSNames are the names the serving certificate is valid for.
func (o CertOptions) DNSNames() []string {
	s, ns := o.Service, o.Namespace
	names := []string{s, s + "." + ns, s + "." + ns + ".svc", s + "." + ns + ".svc.cluster.local"}
	for _, h := range o.Hosts {
		if net.ParseIP(h) == nil {
			names = append(names, h)
		}
	}
	return names
}

// NewCerts makes a development CA and a serving certificate it signs (ECDSA P-256). For production,
// use the cluster's certificate authority or cert-manager: the webhook reloads its files when they
// change.
func NewCerts(o CertOptions) (*Certs, error) {
	if o.Service == "" || o.Namespace == "" {
		return nil, fmt.Errorf("admission: certificates need the service and its namespace")
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	validity := o.Validity
	if validity <= 0 {
		validity = 365 * 24 * time.Hour
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ingot admission development CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: o.Service + "." + o.Namespace + ".svc"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     o.DNSNames(),
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	c := &Certs{
		CACert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
	if c.CAKey, err = ecKeyPEM(caKey); err != nil {
		return nil, err
	}
	if c.Key, err = ecKeyPEM(key); err != nil {
		return nil, err
	}
	return c, nil
}

func ecKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
