// Package assets holds the browser's static files (scripts, styles,
// vendored libraries), embedded in the binary so that nothing is fetched
// from the network at run time.
package assets

import "embed"

// FS is served under /assets/.
//
//go:embed *.css ui vendor
var FS embed.FS
