package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/internal/ctrdtest"
)

func TestExportImportRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	var archive bytes.Buffer
	if err := e.c.ExportImage(ctx, &archive, testImage); err != nil {
		t.Fatal(err)
	}

	// Import into a second namespace of the same daemon and run from it.
	t.Cleanup(func() { removeNamespaceDirs(e.d.Namespace + "-b") })
	other, err := Connect(ctx, Options{
		Address: e.d.Address, Namespace: e.d.Namespace + "-b", FIFODir: e.d.FIFODir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ok, err := other.ImageExists(ctx, testImage); err != nil || ok {
		t.Fatalf("image already in the new namespace: %v, %v", ok, err)
	}
	names, err := other.ImportArchive(ctx, bytes.NewReader(archive.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{testImage}) {
		t.Fatalf("imported %q, want [%s]", names, testImage)
	}
	var o output
	spec := Spec{ID: "imported", Image: testImage, Args: []string{"/bin/echo", "ok"}}
	if _, err = other.Run(ctx, o.spec(spec)); err != nil {
		t.Fatal(err)
	}
	if stdout, _ := o.lines(); !slices.Equal(stdout, []string{"ok"}) {
		t.Errorf("stdout = %q", stdout)
	}

	// Same manifest on both sides.
	infos, err := other.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := e.c.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || len(orig) != 1 || infos[0].Name != testImage ||
		infos[0].Digest != orig[0].Digest || infos[0].Size <= 1<<20 || infos[0].Created.IsZero() {
		t.Errorf("images: imported %+v, original %+v", infos, orig)
	}

	// Removing it leaves the namespace empty.
	if err := other.RemoveImage(ctx, testImage); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.ImageExists(ctx, testImage); err != nil || ok {
		t.Errorf("after remove: exists=%v, %v", ok, err)
	}
	if err := other.RemoveImage(ctx, testImage); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("second remove: err = %v, want ErrImageNotFound", err)
	}
}

func TestImportDockerSave(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const ref = "docker.io/library/savedbox:1.0"

	names, err := e.c.ImportArchive(ctx, bytes.NewReader(ctrdtest.BusyboxDockerArchive(t, ref)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{ref}) {
		t.Fatalf("imported %q, want [%s]", names, ref)
	}
	var o output
	_, err = e.c.Run(ctx, o.spec(Spec{ID: "saved", Image: ref, Args: []string{"/bin/echo", "saved"}}))
	if err != nil {
		t.Fatal(err)
	}
	if stdout, _ := o.lines(); !slices.Equal(stdout, []string{"saved"}) {
		t.Errorf("stdout = %q", stdout)
	}
}

func TestImportBadArchives(t *testing.T) {
	e := newEnv(t)

	var emptyTar bytes.Buffer
	tar.NewWriter(&emptyTar).Close()
	var onlyReadme bytes.Buffer
	tw := tar.NewWriter(&onlyReadme)
	tw.WriteHeader(&tar.Header{Name: "README", Mode: 0o644, Size: 2})
	tw.Write([]byte("hi"))
	tw.Close()

	tests := []struct {
		name string
		data []byte
	}{
		{"not a tar", []byte(strings.Repeat("this is not a tar archive\n", 100))},
		{"empty", nil},
		{"empty tar", emptyTar.Bytes()},
		{"tar without manifest", onlyReadme.Bytes()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, err := e.c.ImportArchive(context.Background(), bytes.NewReader(tt.data))
			if !errors.Is(err, ErrArchive) {
				t.Fatalf("names %q, err = %v, want ErrArchive", names, err)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestExportMissingImage(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	err := e.c.ExportImage(context.Background(), &buf, testImage, "test.local/missing:1")
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "test.local/missing:1") {
		t.Fatalf("err = %v, want ErrImageNotFound naming the ref", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes before failing", buf.Len())
	}
}
