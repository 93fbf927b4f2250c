package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/store"
)

// The physical floor of a build on this machine: the least work any tool must do to turn the locked
// .debs into the same image, each part done the fastest way this machine has, on every core.
//
//   - read every .deb and decompress each of its members once (xz through liblzma, the xz program,
//     for members of 256 KiB or more and Go's decoder below that, as pkg/deb does: sending the
//     small members through the program too changes nothing measurable in a whole build; gzip and
//     zstd with klauspost/compress), packages in parallel, largest first;
//   - gzip every output layer once with ingot's settings (klauspost/compress flate at the default
//     level, 1 MiB blocks primed with the 32 KiB before them, in parallel, as pigz does), and sha256
//     both the tar and the gzip stream.
//
// The layers' tars are taken, untimed, from the image ingot built; compressing them again must give
// the digests in ingot's manifest, which shows that the settings are the same.
type floor struct {
	decompress, compress sample
	debs                 int
	debBytes, tarBytes   int64 // the .debs read; the layers' uncompressed tars
	sameDigests          bool  // the floor's gzip gives ingot's layer digests
}

func (f floor) total() sample {
	return sample{wall: f.decompress.wall + f.compress.wall, cpu: f.decompress.cpu + f.compress.cpu}
}

// cpuNow is the CPU time this process and the processes it waited for have used so far.
func cpuNow() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

// Where the time of decoding goes: each decoder alone, one core, over the same input, in CPU time.
type decoders struct {
	goXZ, xzProgram   time.Duration // the .debs' xz members of xzProgramMin or more
	debXZBytes        int64
	indexGz           map[string]time.Duration // Packages.gz: klauspost, gzip -d, pigz -d, igzip -d
	indexXz           map[string]time.Duration // Packages.xz: Go, xz -d
	indexGzBytes      int64
	indexXzBytes      int64
	indexUncompressed int64
}

// xzProgramMin matches pkg/deb: the compressed size from which liblzma pays for a process.
const xzProgramMin = 256 << 10

// gzipBlock and the level are ingot's (pkg/build): the digests depend on them.
const gzipBlock = 1 << 20

// measureFloor times the floor's two parts runs times each and keeps the medians.
func (b *bench) measureFloor(ctx context.Context, runs int) (floor, error) {
	var f floor
	l, err := lock.Read(filepath.Join(b.specDir, "ingot.lock"))
	if err != nil {
		return f, err
	}
	cache := store.Store{Root: b.dataDir()}.Packages()
	var debs []string
	for _, p := range l.Packages() {
		debs = append(debs, cache.Path(p.SHA256))
	}
	f.debs = len(debs)
	raws, digests, diffIDs, err := b.layerTars()
	if err != nil {
		return f, err
	}
	for _, r := range raws {
		f.tarBytes += int64(len(r))
	}
	var dec, comp []sample
	for range runs {
		start, cpu := time.Now(), cpuNow()
		n, err := decompressAll(ctx, debs)
		if err != nil {
			return f, err
		}
		dec = append(dec, sample{wall: time.Since(start), cpu: cpuNow() - cpu})
		f.debBytes = n

		start, cpu = time.Now(), cpuNow()
		got, gotDiffIDs, err := compressAll(ctx, raws)
		if err != nil {
			return f, err
		}
		comp = append(comp, sample{wall: time.Since(start), cpu: cpuNow() - cpu})
		f.sameDigests = slices.Equal(got, digests) && slices.Equal(gotDiffIDs, diffIDs)
	}
	f.decompress, f.compress = medians(dec), medians(comp)
	return f, nil
}

// layerTars reads the uncompressed layers of the image ingot built, their digests and diffIDs.
func (b *bench) layerTars() (raws [][]byte, digests, diffIDs []string, err error) {
	p, err := layout.FromPath(b.ingotLayout())
	if err != nil {
		return nil, nil, nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, nil, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, nil, err
	}
	if len(im.Manifests) == 0 {
		return nil, nil, nil, errors.New("ingot's layout holds no image")
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, nil, nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, nil, err
	}
	for _, ly := range layers {
		rc, err := ly.Uncompressed()
		if err != nil {
			return nil, nil, nil, err
		}
		raw, err := io.ReadAll(rc)
		_ = rc.Close() // read-only
		if err != nil {
			return nil, nil, nil, err
		}
		d, err := ly.Digest()
		if err != nil {
			return nil, nil, nil, err
		}
		diffID, err := ly.DiffID()
		if err != nil {
			return nil, nil, nil, err
		}
		raws = append(raws, raw)
		digests = append(digests, d.String())
		diffIDs = append(diffIDs, diffID.String())
	}
	return raws, digests, diffIDs, nil
}

// decompressAll reads every .deb and decompresses each member once, packages in parallel, largest
// first; it returns the bytes read.
func decompressAll(ctx context.Context, debs []string) (int64, error) {
	type deb struct {
		path string
		size int64
	}
	var list []deb
	for _, p := range debs {
		fi, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		list = append(list, deb{p, fi.Size()})
	}
	slices.SortFunc(list, func(a, b deb) int { return int(b.size - a.size) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	var total int64
	for _, d := range list {
		total += d.size
		g.Go(func() error {
			data, err := os.ReadFile(d.path)
			if err != nil {
				return err
			}
			members, err := arMembers(data)
			if err != nil {
				return fmt.Errorf("%s: %w", d.path, err)
			}
			for name, body := range members {
				if _, err := decompress(gctx, name, body, len(body) >= xzProgramMin); err != nil {
					return fmt.Errorf("%s: %s: %w", d.path, name, err)
				}
			}
			return nil
		})
	}
	return total, g.Wait()
}

// decompress decodes one member to nowhere and returns its uncompressed size; xzProgram picks the xz
// program over Go's decoder for xz.
func decompress(ctx context.Context, name string, body []byte, xzProgram bool) (int64, error) {
	in := bytes.NewReader(body)
	switch {
	case strings.HasSuffix(name, ".xz") && xzProgram:
		return runDecoder(ctx, in, "xz", "-dc")
	case strings.HasSuffix(name, ".xz"):
		r, err := xz.NewReader(in)
		if err != nil {
			return 0, err
		}
		return io.Copy(io.Discard, r)
	case strings.HasSuffix(name, ".gz"):
		r, err := gzip.NewReader(in)
		if err != nil {
			return 0, err
		}
		return io.Copy(io.Discard, r)
	case strings.HasSuffix(name, ".zst"):
		r, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, err
		}
		defer r.Close()
		return io.Copy(io.Discard, r)
	}
	return int64(len(body)), nil
}

// runDecoder pipes in through a decompressing program and counts what comes out.
func runDecoder(ctx context.Context, in io.Reader, prog string, args ...string) (int64, error) {
	cmd := exec.CommandContext(ctx, prog, args...) //nolint:gosec // xz, gzip, pigz or igzip with fixed arguments
	cmd.Stdin = in
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, cerr := io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return n, fmt.Errorf("%s: %w: %s", prog, err, stderr.String())
	}
	return n, cerr
}

// arMembers returns the bodies of an ar archive's members after debian-binary, by name.
func arMembers(data []byte) (map[string][]byte, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(data, []byte(magic)) {
		return nil, errors.New("not an ar archive")
	}
	out := map[string][]byte{}
	for off := len(magic); off+60 <= len(data); {
		h := data[off : off+60]
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		if err != nil || size < 0 || off+60+size > len(data) {
			return nil, fmt.Errorf("bad member header at %d", off)
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(h[:16])), "/")
		if name != "debian-binary" {
			out[name] = data[off+60 : off+60+size]
		}
		off += 60 + size + size%2
	}
	return out, nil
}

// compressAll gzips each layer as ingot does, blocks of every layer in parallel, and hashes the tar
// and the gzip stream; it returns the digests and diffIDs.
func compressAll(ctx context.Context, raws [][]byte) ([]string, []string, error) {
	blocks := make([][][]byte, len(raws))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, raw := range raws {
		blocks[i] = make([][]byte, (len(raw)+gzipBlock-1)/gzipBlock)
		for j := range blocks[i] {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				start := j * gzipBlock
				end := min(start+gzipBlock, len(raw))
				var buf bytes.Buffer
				fw, err := flate.NewWriterDict(&buf, flate.DefaultCompression, raw[max(0, start-32<<10):start])
				if err != nil {
					return err
				}
				if _, err := fw.Write(raw[start:end]); err != nil {
					return err
				}
				if end == len(raw) {
					err = fw.Close()
				} else {
					err = fw.Flush()
				}
				blocks[i][j] = buf.Bytes()
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	digests, diffIDs := make([]string, len(raws)), make([]string, len(raws))
	g = new(errgroup.Group)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, raw := range raws {
		g.Go(func() error {
			zh := sha256.New()
			zh.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255})
			for _, b := range blocks[i] {
				zh.Write(b)
			}
			trailer := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(raw))
			trailer = binary.LittleEndian.AppendUint32(trailer, uint32(len(raw))) //nolint:gosec // ISIZE is mod 2^32
			zh.Write(trailer)
			diffID := sha256.Sum256(raw)
			digests[i] = "sha256:" + hex.EncodeToString(zh.Sum(nil))
			diffIDs[i] = "sha256:" + hex.EncodeToString(diffID[:])
			return nil
		})
	}
	return digests, diffIDs, g.Wait()
}

// measureDecoders times each decoder alone on one core: the xz members of the .debs through Go's
// decoder and through the xz program, and the suite's Packages index through each gzip and xz
// decoder this machine has.
func (b *bench) measureDecoders(ctx context.Context, runs int) (decoders, error) {
	d := decoders{indexGz: map[string]time.Duration{}, indexXz: map[string]time.Duration{}}
	l, err := lock.Read(filepath.Join(b.specDir, "ingot.lock"))
	if err != nil {
		return d, err
	}
	cache := store.Store{Root: b.dataDir()}.Packages()
	var members [][]byte
	for _, p := range l.Packages() {
		data, err := os.ReadFile(cache.Path(p.SHA256))
		if err != nil {
			return d, err
		}
		ms, err := arMembers(data)
		if err != nil {
			return d, err
		}
		// The members where the choice matters: below xzProgramMin both ingot and the floor use
		// Go's decoder, and starting a process would cost more than it saves.
		for name, body := range ms {
			if strings.HasSuffix(name, ".xz") && len(body) >= xzProgramMin {
				members = append(members, body)
				d.debXZBytes += int64(len(body))
			}
		}
	}
	// timeIt gives the median CPU time of f (this process's and that of the programs it ran): one
	// decoder on one core, so CPU time is its cost, and steadier than wall time on a busy machine.
	timeIt := func(f func() (int64, error)) (time.Duration, int64, error) {
		var ds []time.Duration
		var n int64
		for range runs {
			start := cpuNow()
			var err error
			if n, err = f(); err != nil {
				return 0, 0, err
			}
			ds = append(ds, cpuNow()-start)
		}
		return median(ds), n, nil
	}
	eachMember := func(program bool) func() (int64, error) {
		return func() (int64, error) {
			var total int64
			for _, m := range members {
				n, err := decompress(ctx, "m.xz", m, program)
				if err != nil {
					return 0, err
				}
				total += n
			}
			return total, nil
		}
	}
	if d.goXZ, _, err = timeIt(eachMember(false)); err != nil {
		return d, err
	}
	if d.xzProgram, _, err = timeIt(eachMember(true)); err != nil {
		return d, err
	}

	dir := filepath.Join(b.mirror.dir, "dists", filepath.FromSlash(b.cfg.suite), "main", "binary-"+b.cfg.arch)
	gz, err := os.ReadFile(filepath.Join(dir, "Packages.gz"))
	if err != nil {
		return d, err
	}
	xzIndex, err := os.ReadFile(filepath.Join(dir, "Packages.xz"))
	if err != nil {
		return d, err
	}
	d.indexGzBytes, d.indexXzBytes = int64(len(gz)), int64(len(xzIndex))
	if d.indexGz["klauspost/compress"], d.indexUncompressed, err = timeIt(func() (int64, error) { return decompress(ctx, "i.gz", gz, false) }); err != nil {
		return d, err
	}
	for _, prog := range []string{"gzip", "pigz", "igzip"} { // igzip is what ingot uses when installed
		if _, err := exec.LookPath(prog); err != nil {
			continue
		}
		if d.indexGz[prog+" -d"], _, err = timeIt(func() (int64, error) { return runDecoder(ctx, bytes.NewReader(gz), prog, "-dc") }); err != nil {
			return d, err
		}
	}
	if d.indexXz["ulikunitz/xz"], _, err = timeIt(func() (int64, error) { return decompress(ctx, "i.xz", xzIndex, false) }); err != nil {
		return d, err
	}
	if d.indexXz["xz -d"], _, err = timeIt(func() (int64, error) { return decompress(ctx, "i.xz", xzIndex, true) }); err != nil {
		return d, err
	}
	return d, nil
}
