package ociimage

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Paths of the runtime files in the image, where Go's crypto/x509 and time packages look.
const (
	caBundlePath = "etc/ssl/certs/ca-certificates.crt"
	zoneinfoDir  = "usr/share/zoneinfo"
)

// file is one entry of a layer tarball. Parent directories are added automatically.
type file struct {
	name     string // relative, no leading slash
	mode     int64
	uid, gid int
	dir      bool
	body     []byte
}

// runtimeFiles are what a static Go binary needs from the OS: a user database with the
// non-root user, CA roots, time zones, and writable /tmp and home directories.
func runtimeFiles(goroot string) ([]file, error) {
	uid := NonRootUID
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)
	files := []file{
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		// Go's resolver reads this order; without the file it would still work, but other
		// tooling run against the image expects it.
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte("hosts: files dns\n")},
		{name: caBundlePath, mode: 0o644, body: caBundlePEM()},
		{name: "tmp", mode: 0o1777, dir: true},
		{name: "home/nonroot", mode: 0o700, uid: uid, gid: uid, dir: true},
	}
	zones, err := zoneFiles(path.Join(goroot, "lib", "time", "zoneinfo.zip"))
	if err != nil {
		return nil, err
	}
	return append(files, zones...), nil
}

// caBundlePEM writes the NSS roots that golang.org/x/crypto/x509roots/fallback ships, pinned
// by go.sum. Roots with a distrust-after constraint are left out: a PEM file cannot carry
// the constraint, and trusting them without it would be wider than NSS trusts them.
func caBundlePEM() []byte {
	var out bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		// Encoding into a bytes.Buffer cannot fail.
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	return out.Bytes()
}

// zoneFiles unpacks Go's own tz database (the one time/tzdata embeds) into zoneinfoDir.
func zoneFiles(zipPath string) ([]file, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("reading Go's time zone database: %w", err)
	}
	defer zr.Close()
	var files []file
	for _, entry := range zr.File {
		if strings.HasSuffix(entry.Name, "/") {
			continue
		}
		rc, err := entry.Open()
		if err != nil {
			return nil, fmt.Errorf("reading %s from %s: %w", entry.Name, zipPath, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s from %s: %w", entry.Name, zipPath, err)
		}
		files = append(files, file{name: path.Join(zoneinfoDir, entry.Name), mode: 0o644, body: body})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no time zones", zipPath)
	}
	return files, nil
}

// layerFromFiles packs files into a gzip tar layer in which every entry has the same
// owner-independent metadata and mtime, and entries are sorted, so equal files give an
// equal digest.
func layerFromFiles(files []file, mtime time.Time) (v1.Layer, error) {
	entries := map[string]file{}
	for _, f := range files {
		entries[f.name] = f
		for dir := path.Dir(f.name); dir != "."; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = file{name: dir, mode: 0o755, dir: true}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		f := entries[name]
		hdr := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if f.dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("packing %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("packing %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	tarBytes := buf.Bytes()
	return tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarBytes)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching,
	)
}
