// Command golist is retrace's test oracle for its tar reader: it lists archives the way Go's
// archive/tar reads them (the reader inside the Docker daemon), so the test can compare
// retrace's listing with Go's entry by entry.
//
// Arguments: archive paths (a name ending in .bz2 is decompressed first, as Go's own tests do).
// Output: one JSON object per archive and line: {"entries": [...], "error": class or null}.
// Every text field is hex, as names are bytes. An entry's content is hashed (sha256, hex) over
// its first 64 MiB ("more": true when it went on); a failed content read gives "content_error".
// Errors are classes shared with retrace: header, too-long, eof, miss-data, unref-data, other:...
package main

import (
	"archive/tar"
	"compress/bzip2"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Content beyond this is not hashed: Go's test data holds sparse files of 60 GB.
const maxHashed = 64 << 20

type entry struct {
	Typeflag     byte              `json:"typeflag"`
	Name         string            `json:"name"`
	Linkname     string            `json:"linkname"`
	Size         int64             `json:"size"`
	Mode         int64             `json:"mode"`
	UID          int               `json:"uid"`
	GID          int               `json:"gid"`
	Uname        string            `json:"uname"`
	Gname        string            `json:"gname"`
	ModTime      *[2]int64         `json:"mtime"`
	AccessTime   *[2]int64         `json:"atime"`
	ChangeTime   *[2]int64         `json:"ctime"`
	Devmajor     int64             `json:"devmajor"`
	Devminor     int64             `json:"devminor"`
	Xattrs       map[string]string `json:"xattrs"`
	PAXRecords   map[string]string `json:"pax"`
	Format       int               `json:"format"`
	Sha256       *string           `json:"sha256"`
	More         bool              `json:"more"`
	ContentError *string           `json:"content_error"`
}

type listing struct {
	Entries []entry `json:"entries"`
	Error   *string `json:"error"`
}

func class(err error) string {
	switch {
	case errors.Is(err, tar.ErrHeader):
		return "header"
	case errors.Is(err, tar.ErrFieldTooLong):
		return "too-long"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case strings.Contains(err.Error(), "non-existent data"):
		return "miss-data"
	case strings.Contains(err.Error(), "unreferenced data"):
		return "unref-data"
	}
	return "other: " + err.Error()
}

func stamp(t time.Time) *[2]int64 {
	if t.IsZero() {
		return nil
	}
	return &[2]int64{t.Unix(), int64(t.Nanosecond())}
}

func hexMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[hex.EncodeToString([]byte(k))] = hex.EncodeToString([]byte(v))
	}
	return out
}

func describe(h *tar.Header) entry {
	x := func(s string) string { return hex.EncodeToString([]byte(s)) }
	return entry{
		Typeflag: h.Typeflag, Name: x(h.Name), Linkname: x(h.Linkname), Size: h.Size,
		Mode: h.Mode, UID: h.Uid, GID: h.Gid, Uname: x(h.Uname), Gname: x(h.Gname),
		ModTime: stamp(h.ModTime), AccessTime: stamp(h.AccessTime), ChangeTime: stamp(h.ChangeTime),
		Devmajor: h.Devmajor, Devminor: h.Devminor, Xattrs: hexMap(h.Xattrs),
		PAXRecords: hexMap(h.PAXRecords), Format: int(h.Format),
	}
}

// hashContent reads at most maxHashed bytes of the entry and one more to tell whether it went on.
func hashContent(tr *tar.Reader, e *entry) {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(tr, maxHashed))
	if err == nil && n == maxHashed {
		var one [1]byte
		var k int
		k, err = tr.Read(one[:])
		e.More = k > 0
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		c := class(err)
		e.ContentError = &c
		return
	}
	sum := hex.EncodeToString(h.Sum(nil))
	e.Sha256 = &sum
}

func list(path string) listing {
	out := listing{Entries: []entry{}}
	f, err := os.Open(path)
	if err != nil {
		c := "other: " + err.Error()
		out.Error = &c
		return out
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".bz2") {
		r = bzip2.NewReader(f)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			c := class(err)
			out.Error = &c
			return out
		}
		e := describe(h)
		hashContent(tr, &e)
		out.Entries = append(out.Entries, e)
	}
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		if err := enc.Encode(list(path)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}
