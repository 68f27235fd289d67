package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// staticFS holds the hand-written script and style sheet; no build step, no CDN: the
// dashboard must work on hosts without internet access.
//
//go:embed static
var staticFS embed.FS

type asset struct {
	body        []byte
	contentType string
	hash        string
}

var assets = loadAssets()

func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		out[path.Base(p)] = asset{body: body, contentType: contentTypes[path.Ext(p)], hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		// The files are compiled in; failing to read them is a broken build.
		panic(fmt.Sprintf("web: reading embedded assets: %v", err))
	}
	return out
}

// contentTypes are set explicitly: the system MIME table of the host must not decide how a
// browser treats our script.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// assetURL is the address of an embedded asset with its content hash, so browsers may keep
// it forever and still get a new version after an upgrade.
func assetURL(name string) string {
	a, ok := assets[name]
	if !ok {
		panic("web: no embedded asset " + name)
	}
	return "/static/" + name + "?v=" + a.hash
}

// serveStatic serves /static/{name}. A request naming the current hash may be cached for a
// year; others must revalidate (the ETag makes that a 304).
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match against the ETag with 304.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
