// Command parley is the Parley SIP server: a stateful or stateless proxy
// and registrar. Run "parley help" for its commands.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `Parley, a SIP proxy and registrar.

Usage:
  parley serve [flags]              run the server (UDP and TCP on 0.0.0.0:5060, TLS on 5061 by default)
  parley check-config FILE          validate a configuration file and exit
  parley user add|passwd|del|list|import ...
                                    manage subscribers (see "parley user help")
  parley tls [--config FILE] [--data-dir DIR]
                                    print the TLS certificate and its SHA-256 fingerprint
  parley cdr export --since TIME ...
                                    write call detail records as CSV or JSON (see "parley cdr help")
  parley version                    print the version and the revision it was built from
  parley help                       print this help

` + serveUsage

// serveUsage is what "parley serve --help" prints.
const serveUsage = `Flags of serve (each overrides the config key of the same name):
  --config FILE                 YAML configuration file
  --listen PROTO:HOST:PORT      listen address, repeatable (udp, tcp, tls; IPv6 as udp:[::1]:5060);
                                replaces the configured listeners, it does not add to them
  --domain NAME                 a domain this server is responsible for, repeatable
  --data-dir DIR                where Parley keeps its state
  --mode stateful|stateless|b2bua  proxy mode
  --log-level LEVEL             debug, info, warn or error
  --admin HOST:PORT             admin HTTP listener (metrics, API, console); '' turns it off
  --trace                       log every SIP message sent and received

Signals: SIGHUP reloads the configuration file, SIGTERM and SIGINT drain and stop.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so that tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "user":
		return userCommand(args[1:], os.Stdin, stdout, stderr)
	case "cdr":
		return cdrCommand(args[1:], stdout, stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "tls":
		return tlsCommand(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprint(stdout, versionText())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "parley: unknown command %q\n\n%s", args[0], usage)
	return 2
}
