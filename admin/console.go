package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// consoleFiles is the web console: plain HTML, CSS and JavaScript, no
// build step, so that what is in the repository is what the browser runs.
//
//go:embed console
var consoleFiles embed.FS

// consoleHandler serves the console. Its files are public: they hold no
// data, and the page must load to ask for the token.
func consoleHandler() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change only with the binary; revalidating is cheap
		// and keeps an upgraded server from running a stale script.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
