package vulndb

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	bolt "go.etcd.io/bbolt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultBaseURL is OSV.dev's public bucket: <base>/<Ecosystem>/all.zip.
const DefaultBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

// UpdateOptions tune Update.
type UpdateOptions struct {
	// BaseURL is where <Ecosystem>/all.zip archives are; DefaultBaseURL
	// when empty.
	BaseURL string
	// Ecosystems to download; when empty, the archives already in the
	// database.
	Ecosystems []string
	// Client makes the requests; http.DefaultClient when nil.
	Client *http.Client
	// Progress, when set, gets a line per archive.
	Progress io.Writer
	// SkipInvalid is passed on to the import.
	SkipInvalid bool
}

// Update downloads <base>/<Ecosystem>/all.zip for each ecosystem, with a
// conditional request when the database already holds that archive from
// the same URL (a 304 keeps what it has), checks each body against its
// Content-Length and the x-goog-hash checksums Cloud Storage sends, and
// imports the changed archives as Import does. Archives go to temporary
// files beside the database, never into memory. Any failed download fails
// the update before anything is imported: the old database stays as it
// was.
func Update(ctx context.Context, dbPath string, opts UpdateOptions) (*Stats, error) {
	base := strings.TrimSuffix(opts.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	client := opts.Client
	if client == nil {
		// Bounded waits: a server that stops answering must not hold the
		// database lock for ever.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = time.Minute
		client = &http.Client{Transport: tr, Timeout: 30 * time.Minute}
	}
	known, err := storedArchives(dbPath)
	if err != nil {
		return nil, err
	}
	ecos := opts.Ecosystems
	if len(ecos) == 0 {
		ecos = sortedKeys(known)
	}
	if len(ecos) == 0 {
		return nil, fmt.Errorf("no ecosystems to update in %s: name them (the list is %s/ecosystems.txt)", dbPath, redactURL(base))
	}
	dir := filepath.Dir(dbPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}

	st := &Stats{}
	var inputs []input
	defer func() {
		for _, in := range inputs {
			os.Remove(in.path)
		}
	}()
	for _, eco := range ecos {
		u := base + "/" + url.PathEscape(eco) + "/all.zip"
		var prev *Archive
		if a, ok := known[eco]; ok && a.Source == redactURL(u) {
			prev = &a
		}
		a, tmp, err := download(ctx, client, u, prev, dir)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", eco, err)
		}
		if tmp == "" {
			st.NotModified = append(st.NotModified, eco)
			progress(opts.Progress, "%s: not modified\n", eco)
			continue
		}
		inputs = append(inputs, input{path: tmp, eco: eco, archive: a, source: redactURL(base)})
		st.Downloaded = append(st.Downloaded, eco)
		st.Bytes += a.Size
		progress(opts.Progress, "%s: downloaded %d bytes\n", eco, a.Size)
	}
	if len(inputs) == 0 {
		// Nothing changed upstream: the data is as fresh as this check,
		// which scans' --db-max-age must see.
		if err := touch(dbPath, st.NotModified); err != nil {
			return nil, err
		}
		return st, nil
	}
	bst, err := build(ctx, dbPath, inputs, ImportOptions{SkipInvalid: opts.SkipInvalid}, st.NotModified)
	if err != nil {
		return nil, err
	}
	bst.Downloaded, bst.NotModified, bst.Bytes = st.Downloaded, st.NotModified, st.Bytes
	return bst, nil
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// storedArchives returns the archives recorded in the database at path,
// or none when there is no database yet.
func storedArchives(path string) (map[string]Archive, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.Meta().Archives, nil
}

// download fetches u into a temporary file in dir and returns what it
// learnt; tmp is "" when the server says prev is still current.
func download(ctx context.Context, client *http.Client, u string, prev *Archive, dir string) (_ *Archive, tmp string, err error) {
	// Credentials in a mirror's URL go in the request only: what is
	// stored and printed is redacted.
	shown := redactURL(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	if prev != nil {
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		return prev, "", nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("GET %s: %s", shown, resp.Status)
	}
	wantMD5, wantCRC, err := googHash(resp.Header.Values("X-Goog-Hash"))
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", shown, err)
	}

	f, err := os.CreateTemp(dir, ".download-*.zip")
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	sha, md, crc := sha256.New(), md5.New(), crc32.New(crc32.MakeTable(crc32.Castagnoli))
	n, err := io.Copy(io.MultiWriter(f, sha, md, crc), resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: body after %d bytes: %w", shown, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, "", fmt.Errorf("GET %s: %d bytes, Content-Length says %d", shown, n, resp.ContentLength)
	}
	for _, c := range []struct {
		name string
		want []byte
		h    hash.Hash
	}{{"md5", wantMD5, md}, {"crc32c", wantCRC, crc}} {
		if c.want != nil && string(c.h.Sum(nil)) != string(c.want) {
			return nil, "", fmt.Errorf("GET %s: %s of the body is %s, x-goog-hash says %s", shown, c.name,
				base64.StdEncoding.EncodeToString(c.h.Sum(nil)), base64.StdEncoding.EncodeToString(c.want))
		}
	}
	if err := f.Close(); err != nil {
		return nil, "", err
	}
	return &Archive{
		Source:       shown,
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		Size:         n,
		SHA256:       hex.EncodeToString(sha.Sum(nil)),
	}, f.Name(), nil
}

// googHash reads Cloud Storage's x-goog-hash headers ("crc32c=<base64>,
// md5=<base64>", possibly as separate headers).
func googHash(values []string) (md5sum, crc []byte, err error) {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(val)
			if err != nil {
				return nil, nil, fmt.Errorf("x-goog-hash %s: %w", k, err)
			}
			switch k {
			case "md5":
				md5sum = b
			case "crc32c":
				crc = b
			}
		}
	}
	return md5sum, crc, nil
}

// touch records in the database's metadata that its archives were
// confirmed unchanged now. It changes only the metadata record, in one
// bbolt transaction, which is atomic: no copy of the data is needed.
func touch(dbPath string, notModified []string) error {
	unlock, err := lockFile(dbPath + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	db, err := bolt.Open(dbPath, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", dbPath, err)
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if b == nil {
			return fmt.Errorf("%s: no metadata: not a mamori database", dbPath)
		}
		var meta Meta
		if err := json.Unmarshal(b.Get(keyMeta), &meta); err != nil {
			return fmt.Errorf("%s: metadata: %w", dbPath, err)
		}
		now := time.Now().UTC()
		meta.Updated = now
		for _, eco := range notModified {
			if a, ok := meta.Archives[eco]; ok {
				a.Fetched = now
				meta.Archives[eco] = a
			}
		}
		data, err := json.Marshal(&meta)
		if err != nil {
			return err
		}
		return b.Put(keyMeta, data)
	})
}

// redactURL hides a password in a URL ("https://user:xxxxx@mirror/osv"),
// for what is stored and printed.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
