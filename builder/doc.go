// Package builder builds container images from a Dockerfile straight into
// containerd's content store, with no Docker engine and no BuildKit daemon.
//
// This first builder understands the instructions that need no running
// container: FROM (scratch, or an image already in the containerd
// namespace), COPY, ENV, WORKDIR, LABEL, ENTRYPOINT, CMD, ARG, EXPOSE,
// USER, VOLUME and MAINTAINER. RUN, ADD, HEALTHCHECK, ONBUILD, SHELL,
// STOPSIGNAL, COPY --from and multi-stage builds are refused with
// ErrUnsupported and the Dockerfile line.
//
// # How an image is made
//
// Each COPY (and each WORKDIR whose directory does not exist yet) becomes
// one layer. The layer is an uncompressed tar made in this process, not by
// containerd's diff service: entries are sorted by path, every mtime is the
// Unix epoch, owners are 0:0 unless COPY --chown says otherwise, user and
// group names are left empty, and file modes are kept. Identical inputs
// therefore give byte-identical layers, configs and manifests, and the same
// image digest on any machine. Layers are stored uncompressed so that their
// digest equals their diff ID and does not depend on a compressor's version.
//
// Blobs are written to the content store under a lease; the manifest carries
// containerd.io/gc.ref.content.* labels for its config and layers, so once
// the image record points at it the garbage collector keeps everything. The
// image is then unpacked for the overlayfs snapshotter so it can run at
// once.
//
// # Rebuilds
//
// A layer's digest is computed before anything is sent to containerd; when
// the content store already holds that digest nothing is written. An
// unchanged rebuild therefore reads the COPY inputs once, makes a few
// metadata calls, and yields the same manifest digest.
//
// # Paths
//
// COPY sources are resolved inside the build context and may not leave it.
// Symbolic links in the context are copied as links and never followed,
// whether they are named directly or found inside a copied directory, and a
// source path that passes through a linked directory is refused. COPY
// destinations are resolved inside the image's root file system: links met
// on the way are followed as the image would see them, with absolute
// targets taken relative to the image root and ".." stopping at it.
package builder
