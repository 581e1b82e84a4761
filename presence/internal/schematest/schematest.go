// Package schematest validates the XML documents the presence packages
// build against their RFC schemas, with xmllint (Debian's libxml2-utils),
// for their tests.
package schematest

import (
	"os"
	"os/exec"
	"testing"
)

// Require skips t when xmllint is not installed, or fails it under
// CI=true, where a test passing by checking nothing must not happen.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err == nil {
		return
	}
	msg := "xmllint not found; install with: apt-get install libxml2-utils"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Validate checks the document in file against the schema xsd, offline:
// every schema a document needs must be a local file the xsd imports. It
// returns xmllint's output with the error when the document is invalid.
func Validate(xsd, file string) ([]byte, error) {
	return exec.Command("xmllint", "--noout", "--nonet", "--schema", xsd, file).CombinedOutput()
}
