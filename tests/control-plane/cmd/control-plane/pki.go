package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files of a control plane's folder. One CA signs the serving certificate and every client
// certificate; the apiserver trusts it for clients, and kubeconfigs carry it for the server.
const (
	caCert      = "ca.crt"
	caKey       = "ca.key"
	servingCert = "apiserver.crt"
	servingKey  = "apiserver.key"
	saPub       = "sa.pub"
	saKey       = "sa.key"
	serverFile  = "server"
	adminConfig = "admin.kubeconfig"
)

type pki struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newPKI makes the CA, the apiserver's serving certificate and the service-account key pair.
func newPKI(dir string) (*pki, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "cache-operator test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &pki{dir: dir, cert: cert, key: key}
	if err := writePEM(filepath.Join(dir, caCert), "CERTIFICATE", der); err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, caKey), key); err != nil {
		return nil, err
	}
	servingDER, servingK, err := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	})
	if err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, servingCert), "CERTIFICATE", servingDER); err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, servingKey), servingK); err != nil {
		return nil, err
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, saKey), sa); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	return p, writePEM(filepath.Join(dir, saPub), "PUBLIC KEY", pub)
}

// loadPKI reads the CA of a folder made by newPKI.
func loadPKI(dir string) (*pki, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCert))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKey))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s: no PEM in %s or %s", dir, caCert, caKey)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return &pki{dir: dir, cert: cert, key: key}, nil
}

func (p *pki) sign(tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	return der, key, err
}

// kubeconfig writes a kubeconfig for a client-certificate user: CN is the user name, O its groups.
func (p *pki) kubeconfig(path, server, user string, groups []string) error {
	der, key, err := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	b64 := func(kind string, der []byte) string {
		return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
	}
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: control-plane
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: %s
  context: {cluster: control-plane, user: %s, namespace: default}
current-context: %s
`, server, b64("CERTIFICATE", p.cert.Raw), user, b64("CERTIFICATE", der), b64("EC PRIVATE KEY", keyDER), user, user, user)
	return os.WriteFile(path, []byte(text), 0o600)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// userCommand: `control-plane user --dir DIR --name N [--group G]... --out FILE`.
func userCommand(args []string) error {
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	dir := fs.String("dir", "", "the folder of a running control plane")
	name := fs.String("name", "", "user name (the certificate's CN)")
	out := fs.String("out", "", "where to write the kubeconfig")
	var groups stringList
	fs.Var(&groups, "group", "a group of the user (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *name == "" || *out == "" {
		return errors.New("user needs --dir, --name and --out")
	}
	p, err := loadPKI(*dir)
	if err != nil {
		return err
	}
	server, err := os.ReadFile(filepath.Join(*dir, serverFile))
	if err != nil {
		return err
	}
	return p.kubeconfig(*out, strings.TrimSpace(string(server)), *name, groups)
}
