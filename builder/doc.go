// Package builder builds container images from a Dockerfile straight into
// containerd's content store, with no Docker engine and no BuildKit daemon.
//
// It understands FROM (scratch, an image already in the containerd
// namespace, or an earlier stage), multi-stage builds with FROM ... AS and
// COPY --from, RUN, COPY, ADD, ENV, ARG, WORKDIR, USER, LABEL, EXPOSE,
// VOLUME, ENTRYPOINT, CMD, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD and
// MAINTAINER, and honours .dockerignore. Only the stages the target needs
// are built, and only the target (the last stage, or Options.Target) is
// tagged.
//
// # How an image is made
//
// Each COPY and ADD (and each WORKDIR whose directory does not exist yet)
// becomes one layer made in this process from the build context: entries
// sorted by path, every mtime the Unix epoch, owners 0:0 unless --chown
// says otherwise, no user or group names, file modes kept.
//
// A RUN step runs as a containerd task. The layers so far are unpacked as
// committed overlayfs snapshots (through the diff service, for the ones not
// there yet), a new active snapshot is prepared on top, and a container is
// started with that snapshot as its root file system, the image's Env
// (plus the ARG values in scope), WorkingDir and User, and a fresh network
// namespace holding only lo. RUN --network=host shares the host's network
// namespace, /etc/hosts and /etc/resolv.conf instead. Output is streamed to
// Options.Output, or line by line to Options.Progress. A non-zero exit is a
// *RunError: "Dockerfile:LINE: RUN <cmd>: exit code N" and the last 20
// output lines. The layer is then made from the snapshot's overlay upper
// directory, in this process rather than by the diff service, because the
// containerd 1.6 daemon ignores the option that clamps timestamps: entries
// in walk order, every mtime the epoch, whiteouts for deletions, hard links
// kept. Mount points the runtime created for the container (/proc, /sys,
// /dev, /etc/hosts, /etc/resolv.conf) that the image lacked are left out,
// and removed from the snapshot too; the snapshot is then committed under
// its chain ID so the next RUN and the final unpack start from it. The
// container, its task and any uncommitted snapshot are removed whether the
// step succeeds, fails or is cancelled. Identical inputs give
// byte-identical layers, configs and manifests, RUN layers included as long
// as the commands themselves are deterministic.
//
// ADD is COPY plus extraction of local tar archives, plain or compressed
// with gzip, bzip2, xz or zstd (recognised by content, not by name). Entry
// paths are kept below the destination, entries that pass through a link
// the same archive made are refused, owners come from the archive unless
// --chown is given, and mtimes are clamped like every other entry. A
// source that is a URL or a git remote is refused with ErrRemoteURL: an
// offline appliance downloads nothing during a build.
//
// COPY --from reads an earlier stage (by AS name or number) or an image in
// the namespace, mounted read-only on a temporary directory for the step.
// Owners there are kept unless --chown is given, and a source that is a
// link is followed, as Docker does.
//
// SHELL changes the shell of shell-form RUN, CMD and ENTRYPOINT and is
// recorded in the config with STOPSIGNAL, HEALTHCHECK and ONBUILD, under
// the field names Docker uses. ONBUILD triggers are only recorded: building
// FROM an image that has some logs a warning and does not run them, and the
// new image does not inherit them.
//
// Layers are stored uncompressed so that their digest equals their diff ID.
// Blobs and snapshots are made under a lease; the manifest carries
// containerd.io/gc.ref.content.* labels for its config and layers and the
// config the gc.ref.snapshot label of its unpacked root, so once the image
// record points at it the garbage collector keeps everything, and what a
// failed build made is collected when the lease ends.
//
// # Rebuilds and the cache
//
// A COPY or ADD layer's digest is computed before anything is sent to
// containerd; when the content store already holds it nothing is written.
// With Options.CacheDir set, each RUN result is remembered in a small JSON
// file keyed by the parent chain ID, the command, its environment (ENV and
// ARG values), user, working directory, network mode and platform. A hit
// whose layer is still in the content store skips running the command, so
// an unchanged rebuild starts no task and yields the same manifest digest.
//
// # Paths
//
// COPY and ADD sources are resolved inside the build context and may not
// leave it. Symbolic links in the context are copied as links and never
// followed, and a source path that passes through a linked directory is
// refused. Destinations, and COPY --from sources, are resolved inside the
// image's root file system: links met on the way are followed as the image
// would see them, with absolute targets taken relative to the image root
// and ".." stopping at it; files of a mounted stage are then opened through
// an os.Root, so nothing outside the mount is reached.
//
// # Known shortcomings
//
// RUN --mount and RUN --security are refused, and so are here-documents,
// COPY --parents, --exclude, ADD --checksum and --keep-git-dir.
// FROM --platform is refused, and a Dockerfile with RUN can only be built
// for a platform the host runs. The RUN layer is read from the overlayfs
// upper directory, so RUN needs the overlayfs snapshotter on the same host
// as the builder and refuses to work when the kernel's overlay redirect_dir
// or metacopy features are on. Extended attributes, file capabilities
// included, are not kept in any layer. Every mtime in a layer is the epoch,
// also for files RUN made and for files ADD extracted. The cache does not
// notice a change that the key does not cover, such as a RUN command that
// downloads something with host networking; clear CacheDir to force a
// rerun. Cache entries are never pruned. The cache skips only RUN steps;
// COPY and ADD still read their inputs on every build. A cached rebuild of
// a small image takes about a tenth of a cold one on a 2-core machine, not
// the hoped-for twentieth, because tagging and the content-store checks
// cost tens of milliseconds. Stdout and stderr of a RUN are read
// separately, so lines of the two may interleave out of order. Devices,
// pipes and sockets inside ADD archives are left out.
package builder
