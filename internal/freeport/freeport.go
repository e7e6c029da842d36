// Package freeport picks TCP ports on the loopback interface for servers that
// this process starts itself (private PostgreSQL and Valkey processes).
package freeport

import (
	"fmt"
	"net"
	"strconv"
)

// Pick returns preferred when a listener can bind 127.0.0.1:preferred right
// now, and otherwise a port the operating system assigns. A preferred of 0 (or
// anything outside 1-65535) always gets an assigned port.
//
// The port is free when Pick returns but nothing holds it: another process can
// take it before the caller binds it. Callers that start a server on a port
// they did not insist on should retry with a new Pick when the bind fails.
func Pick(preferred int) (int, error) {
	if preferred > 0 && preferred <= 65535 {
		if port, err := listen(preferred); err == nil {
			return port, nil
		}
	}
	port, err := listen(0)
	if err != nil {
		return 0, fmt.Errorf("pick free port: %w", err)
	}
	return port, nil
}

// listen binds 127.0.0.1:port, closes the listener and returns the bound port.
func listen(port int) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
