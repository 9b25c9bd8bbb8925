// Command gotar is retrace's test oracle for the tar writer: it builds layer tars with Go's own
// archive/tar from a JSON description of entries, constructing each tar.Header the way Docker
// 20.10's pkg/archive does (file type bits in Mode, "/" after directory names, Format PAX,
// security.capability as an xattr, the overlay whiteout and opaque-directory conversions).
//
// Input (stdin): a JSON array of cases {"entries": [...], "users": {"0": "root"}, "groups": {...}}.
// An entry's path and link target are hex, as file names may be bytes that are not UTF-8.
// Output: for case i, the file <outdir>/<i>.tar, or <outdir>/<i>.err with the error text.
package main

import (
	"archive/tar"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

type entry struct {
	Path   string  `json:"path"` // hex
	Kind   string  `json:"kind"`
	Data   string  `json:"data"`
	Target string  `json:"target"` // hex
	Major  int64   `json:"major"`
	Minor  int64   `json:"minor"`
	Mode   int64   `json:"mode"`
	UID    int     `json:"uid"`
	GID    int     `json:"gid"`
	Mtime  int64   `json:"mtime"`
	Cap    *string `json:"cap"` // hex; null when the file has no security.capability
	Opaque bool    `json:"opaque"`
}

type testCase struct {
	Entries []entry           `json:"entries"`
	Users   map[string]string `json:"users"`
	Groups  map[string]string `json:"groups"`
}

func writeCase(c testCase, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range c.Entries {
		data, err := hex.DecodeString(e.Data)
		if err != nil {
			return err
		}
		path, err := hex.DecodeString(e.Path)
		if err != nil {
			return err
		}
		target, err := hex.DecodeString(e.Target)
		if err != nil {
			return err
		}
		e.Path, e.Target = string(path), string(target)
		hdr := &tar.Header{
			Name:    e.Path,
			Mode:    e.Mode,
			Uid:     e.UID,
			Gid:     e.GID,
			ModTime: time.Unix(e.Mtime, 0),
			Uname:   c.Users[strconv.Itoa(e.UID)],
			Gname:   c.Groups[strconv.Itoa(e.GID)],
			Format:  tar.FormatPAX,
		}
		switch e.Kind {
		case "file":
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, hdr.Mode|0100000, int64(len(data))
		case "dir":
			hdr.Typeflag, hdr.Mode, hdr.Name = tar.TypeDir, hdr.Mode|040000, e.Path+"/"
		case "symlink":
			hdr.Typeflag, hdr.Mode, hdr.Linkname = tar.TypeSymlink, hdr.Mode|0120000, e.Target
		case "hardlink":
			hdr.Typeflag, hdr.Mode, hdr.Linkname = tar.TypeLink, hdr.Mode|0100000, e.Target
		case "char":
			hdr.Typeflag, hdr.Mode, hdr.Devmajor, hdr.Devminor = tar.TypeChar, hdr.Mode|020000, e.Major, e.Minor
		case "block":
			hdr.Typeflag, hdr.Mode, hdr.Devmajor, hdr.Devminor = tar.TypeBlock, hdr.Mode|060000, e.Major, e.Minor
		case "sharedwhiteout":
			// A whiteout hard-linked to an earlier path: pkg/archive's hardlink bookkeeping sets
			// TypeLink and Linkname, then the whiteout converter below resets the type only.
			hdr.Typeflag, hdr.Mode, hdr.Linkname = tar.TypeLink, hdr.Mode|020000, e.Target
		case "fifo":
			hdr.Typeflag, hdr.Mode = tar.TypeFifo, hdr.Mode|010000
		default:
			return fmt.Errorf("unknown kind %q", e.Kind)
		}
		if e.Cap != nil {
			capability, err := hex.DecodeString(*e.Cap)
			if err != nil {
				return err
			}
			hdr.Xattrs = map[string]string{"security.capability": string(capability)}
		}
		// The overlay whiteout converter: a 0/0 character device becomes an empty .wh. file.
		if (e.Kind == "char" && e.Major == 0 && e.Minor == 0) || e.Kind == "sharedwhiteout" {
			hdr.Name = filepath.Join(filepath.Dir(hdr.Name), ".wh."+filepath.Base(hdr.Name))
			hdr.Mode = 0600
			hdr.Typeflag = tar.TypeReg
			hdr.Size = 0
		}
		var wo *tar.Header
		if e.Kind == "dir" && e.Opaque {
			wo = &tar.Header{
				Typeflag: tar.TypeReg,
				Mode:     hdr.Mode & int64(os.ModePerm),
				Name:     filepath.Join(hdr.Name, ".wh..wh..opq"),
				Uid:      hdr.Uid,
				Uname:    hdr.Uname,
				Gid:      hdr.Gid,
				Gname:    hdr.Gname,
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && len(data) > 0 {
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
		if wo != nil {
			if err := tw.WriteHeader(wo); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gotar OUTDIR < cases.json")
		os.Exit(2)
	}
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i, c := range cases {
		base := filepath.Join(os.Args[1], strconv.Itoa(i))
		if err := writeCase(c, base+".tar"); err != nil {
			os.Remove(base + ".tar")
			os.WriteFile(base+".err", []byte(err.Error()), 0o644)
		}
	}
}
