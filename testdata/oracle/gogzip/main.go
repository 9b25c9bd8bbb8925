// Command gogzip is retrace's reference oracle: it compresses bytes with Go's own compress/gzip or
// compress/flate so that retrace's Rust encoder can be compared with the encoder Docker used.
//
// Three modes, all single-threaded (GOMAXPROCS=1) so timings compare one core with one core:
//
//	gogzip [-level N] [-raw] [-chunk N] < in > out
//	    Compress stdin once (gzip unless -raw) and write the result to stdout. -chunk N splits the
//	    input into Write calls of N bytes (0 = one Write) to show chunking does not matter.
//
//	gogzip -batch
//	    Answer many requests in one process so tests stay fast. Each request on stdin is
//	      1 byte kind ('G' gzip, 'F' raw flate), 4 bytes level (int32 LE),
//	      4 bytes chunk size (uint32 LE, 0 = one Write), 8 bytes length (uint64 LE), then the data;
//	    each answer on stdout is 8 bytes length (uint64 LE) then the compressed bytes. A request
//	    with an invalid level is answered with length 2^64-1 and no bytes.
//
//	gogzip -bench -level N -reps R -in FILE -out FILE
//	    Compress FILE (held in memory) R times, print the best wall time in nanoseconds on stdout
//	    and write the last output to -out. File I/O is outside the timed region.
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"runtime"
	"time"
)

func compress(data []byte, level int, raw bool, chunk int, out *bytes.Buffer) error {
	var w io.WriteCloser
	var err error
	if raw {
		w, err = flate.NewWriter(out, level)
	} else {
		w, err = gzip.NewWriterLevel(out, level)
	}
	if err != nil {
		return err
	}
	if chunk <= 0 {
		if _, err := w.Write(data); err != nil {
			return err
		}
	} else {
		for len(data) > 0 {
			n := chunk
			if n > len(data) {
				n = len(data)
			}
			if _, err := w.Write(data[:n]); err != nil {
				return err
			}
			data = data[n:]
		}
	}
	return w.Close()
}

func batch() error {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	var head [17]byte
	var buf bytes.Buffer
	for {
		if _, err := io.ReadFull(in, head[:]); err != nil {
			if err == io.EOF {
				return out.Flush()
			}
			return err
		}
		kind := head[0]
		level := int(int32(binary.LittleEndian.Uint32(head[1:5])))
		chunk := int(binary.LittleEndian.Uint32(head[5:9]))
		n := binary.LittleEndian.Uint64(head[9:17])
		data := make([]byte, n)
		if _, err := io.ReadFull(in, data); err != nil {
			return err
		}
		buf.Reset()
		var lenBuf [8]byte
		if err := compress(data, level, kind == 'F', chunk, &buf); err != nil {
			binary.LittleEndian.PutUint64(lenBuf[:], ^uint64(0))
			out.Write(lenBuf[:])
		} else {
			binary.LittleEndian.PutUint64(lenBuf[:], uint64(buf.Len()))
			out.Write(lenBuf[:])
			out.Write(buf.Bytes())
		}
		// Answer each request at once: the caller may wait for it before sending the next.
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

func bench(level, reps int, inPath, outPath string) error {
	data, err := ioutil.ReadFile(inPath)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	out.Grow(len(data) + len(data)/8 + 1024)
	best := time.Duration(1<<63 - 1)
	for r := 0; r < reps; r++ {
		out.Reset()
		start := time.Now()
		if err := compress(data, level, false, 0, &out); err != nil {
			return err
		}
		if d := time.Since(start); d < best {
			best = d
		}
	}
	if err := ioutil.WriteFile(outPath, out.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Println(best.Nanoseconds())
	return nil
}

func main() {
	runtime.GOMAXPROCS(1)
	level := flag.Int("level", 6, "compression level, -2..9 (-1 = default)")
	raw := flag.Bool("raw", false, "write raw DEFLATE instead of gzip")
	chunk := flag.Int("chunk", 0, "split the input into Write calls of this many bytes (0 = one Write)")
	batchMode := flag.Bool("batch", false, "answer framed requests on stdin (see the package comment)")
	benchMode := flag.Bool("bench", false, "time compressing -in, print best nanoseconds")
	reps := flag.Int("reps", 3, "repetitions for -bench")
	inPath := flag.String("in", "", "input file for -bench")
	outPath := flag.String("out", "", "output file for -bench")
	flag.Parse()

	var err error
	switch {
	case *batchMode:
		err = batch()
	case *benchMode:
		err = bench(*level, *reps, *inPath, *outPath)
	default:
		var data []byte
		data, err = ioutil.ReadAll(os.Stdin)
		if err == nil {
			var out bytes.Buffer
			if err = compress(data, *level, *raw, *chunk, &out); err == nil {
				_, err = os.Stdout.Write(out.Bytes())
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gogzip:", err)
		os.Exit(1)
	}
}
