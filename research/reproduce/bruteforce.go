package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

type Ent struct {
	Name string `json:"name"`
	Type byte   `json:"type"` // '0','2','5'
	Mode int64  `json:"mode"`
	Uid  int64  `json:"uid"`
	Gid  int64  `json:"gid"`
	Link string `json:"link"`
	Var  int    `json:"var"` // -1 => fixed Mtime
	Mtime int64 `json:"mtime"`
}
type Spec struct {
	Expected string     `json:"expected"`
	Entries  []Ent      `json:"entries"`
	Vars     [][2]int64 `json:"vars"`
}

func oct(b []byte, v int64, width int) {
	s := fmt.Sprintf("%0*o", width-1, v)
	copy(b, s)
	b[width-1] = 0
}

func header(e Ent, mt int64) []byte {
	h := make([]byte, 512)
	copy(h[0:100], e.Name)
	oct(h[100:108], e.Mode, 8)
	oct(h[108:116], e.Uid, 8)
	oct(h[116:124], e.Gid, 8)
	oct(h[124:136], 0, 12)
	oct(h[136:148], mt, 12)
	h[156] = e.Type
	copy(h[157:257], e.Link)
	copy(h[257:265], "ustar\x0000")
	oct(h[329:337], 0, 8)
	oct(h[337:345], 0, 8)
	for i := 148; i < 156; i++ {
		h[i] = ' '
	}
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	s := fmt.Sprintf("%06o", sum)
	copy(h[148:], s)
	h[154] = 0
	h[155] = ' '
	return h
}

func main() {
	var sp Spec
	f, _ := os.ReadFile(os.Args[1])
	if err := json.Unmarshal(f, &sp); err != nil {
		panic(err)
	}
	exp, _ := hex.DecodeString(sp.Expected[7:])
	nv := len(sp.Vars)
	total := int64(1)
	for _, r := range sp.Vars {
		total *= r[1] - r[0] + 1
	}
	fmt.Fprintf(os.Stderr, "total candidates %d\n", total)
	var found int32
	var cnt int64
	var wg sync.WaitGroup
	nw := runtime.NumCPU()
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf, tarb bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, 6)
			vals := make([]int64, nv)
			for idx := int64(w); idx < total; idx += int64(nw) {
				if atomic.LoadInt32(&found) != 0 {
					return
				}
				r := idx
				for i := nv - 1; i >= 0; i-- {
					n := sp.Vars[i][1] - sp.Vars[i][0] + 1
					vals[i] = sp.Vars[i][0] + r%n
					r /= n
				}
				tarb.Reset()
				for _, e := range sp.Entries {
					mt := e.Mtime
					if e.Var >= 0 {
						mt = vals[e.Var]
					}
					tarb.Write(header(e, mt))
				}
				tarb.Write(make([]byte, 1024))
				buf.Reset()
				zw.Reset(&buf)
				zw.Write(tarb.Bytes())
				zw.Close()
				d := sha256.Sum256(buf.Bytes())
				atomic.AddInt64(&cnt, 1)
				if bytes.Equal(d[:], exp) {
					atomic.StoreInt32(&found, 1)
					fmt.Printf("FOUND %v size %d\n", vals, buf.Len())
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if found == 0 {
		fmt.Printf("NOTFOUND after %d\n", cnt)
	}
}
