package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/component-base/version"
)

func builtVersion() string { return version.Get().GitVersion }

// component is one child process of `up`, with its output in DIR/NAME.log.
type component struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

func start(dir, name string, args ...string) (*component, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	// Children never outlive the launcher, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &component{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); log.Close() }()
	return c, nil
}

// stop asks politely, then kills.
func (c *component) stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// up starts etcd, kube-apiserver and kube-controller-manager the way envtest does, with RBAC on,
// and supervises them: if one exits, all stop.
func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder for certificates, data, logs and kubeconfigs (must exist)")
	port := fs.Int("port", 0, "the apiserver's port (default: a free one)")
	check := fs.Bool("check", false, "print the live apiserver's /version, then stop (a smoke test)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("up needs --dir")
	}
	began := time.Now()
	parent := os.Getppid()
	p, err := newPKI(*dir)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	etcdClient, err := freePort()
	if err != nil {
		return err
	}
	etcdPeer, err := freePort()
	if err != nil {
		return err
	}
	if *port == 0 {
		if *port, err = freePort(); err != nil {
			return err
		}
	}
	server := "https://127.0.0.1:" + strconv.Itoa(*port)
	if err := os.WriteFile(filepath.Join(*dir, serverFile), []byte(server+"\n"), 0o644); err != nil {
		return err
	}
	if err := p.kubeconfig(filepath.Join(*dir, adminConfig), server, "admin", []string{"system:masters"}); err != nil {
		return err
	}

	var running []*component
	stopAll := func() {
		// The reverse of the start order: nothing talks to a component that is already gone.
		for i := len(running) - 1; i >= 0; i-- {
			running[i].stop(15 * time.Second)
		}
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	etcd, err := start(*dir, "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(*dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// A test store: losing it on a power cut costs nothing, fsync costs every write.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	running = append(running, etcd)
	if err := waitHTTP(etcd, etcdURL+"/health", nil, 60*time.Second); err != nil {
		stopAll()
		return err
	}

	apiserver, err := start(*dir, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(*port),
		"--tls-cert-file="+filepath.Join(*dir, servingCert),
		"--tls-private-key-file="+filepath.Join(*dir, servingKey),
		"--client-ca-file="+filepath.Join(*dir, caCert),
		"--service-account-issuer="+server+"/",
		"--service-account-key-file="+filepath.Join(*dir, saPub),
		"--service-account-signing-key-file="+filepath.Join(*dir, saKey),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// No pods run here: nothing mounts service-account tokens.
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(*dir, "apiserver-certs"),
	)
	if err != nil {
		stopAll()
		return err
	}
	running = append(running, apiserver)
	admin, err := adminClient(*dir)
	if err != nil {
		stopAll()
		return err
	}
	if err := waitHTTP(apiserver, server+"/readyz", admin, 120*time.Second); err != nil {
		stopAll()
		return err
	}

	kcm, err := start(*dir, "kube-controller-manager",
		"--kubeconfig="+filepath.Join(*dir, adminConfig),
		// Garbage collection of owned objects and namespace deletion are what tests rely on.
		"--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller",
		"--leader-elect=false",
		"--secure-port=0",
	)
	if err != nil {
		stopAll()
		return err
	}
	running = append(running, kcm)

	if *check {
		defer stopAll()
		resp, err := admin.Get(server + "/version")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		fmt.Printf("kube-apiserver %s up in %.1fs; GET /version: %s", server, time.Since(began).Seconds(), body)
		return nil
	}
	fmt.Println(server)
	fmt.Fprintf(os.Stderr, "control-plane %s up in %.1fs: %s (etcd %s); admin kubeconfig %s\n",
		builtVersion(), time.Since(began).Seconds(), server, etcdURL, filepath.Join(*dir, adminConfig))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	orphaned := make(chan struct{})
	go func() {
		for os.Getppid() == parent {
			time.Sleep(500 * time.Millisecond)
		}
		close(orphaned)
	}()
	var exitErr error
	select {
	case <-signals:
	case <-orphaned:
	case err := <-etcd.done:
		exitErr = fmt.Errorf("etcd exited: %v (see %s)", err, filepath.Join(*dir, "etcd.log"))
		etcd.done <- err
	case err := <-apiserver.done:
		exitErr = fmt.Errorf("kube-apiserver exited: %v (see %s)", err, filepath.Join(*dir, "kube-apiserver.log"))
		apiserver.done <- err
	case err := <-kcm.done:
		exitErr = fmt.Errorf("kube-controller-manager exited: %v (see %s)", err, filepath.Join(*dir, "kube-controller-manager.log"))
		kcm.done <- err
	}
	stopAll()
	return exitErr
}

func adminClient(dir string) (*http.Client, error) {
	p, err := loadPKI(dir)
	if err != nil {
		return nil, err
	}
	der, key, err := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.cert)
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		}},
	}, nil
}

// waitHTTP polls url until it answers 200, the component exits, or the time is up.
func waitHTTP(c *component, url string, client *http.Client, timeout time.Duration) error {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("%s exited before it was ready: %v (see its log)", c.name, err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		cancel()
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s after %s: %s", c.name, url, timeout, last)
}
