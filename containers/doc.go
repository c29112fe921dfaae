// Package containers runs vent-style plugin containers directly through
// containerd, without Docker.
//
// A Client wraps one containerd connection and one namespace. Run creates a
// container from an image that is already in the namespace, starts it, streams
// its stdout and stderr line by line to callbacks, waits for it under an
// optional timeout and removes the task, the container and its rootfs snapshot
// on every path. A plugin that exits non-zero is a normal Result; Run returns
// an error only when the machinery failed (containerd unreachable, image
// missing, duplicate id, a task that cannot be created or started).
//
// Containers are created with safe defaults: a fresh network namespace that
// holds only lo (unless Spec.HostNetwork), no new privileges, containerd's
// default capability set, containerd's default seccomp profile (unless
// Spec.NoSeccomp), and the memory and pid
// limits the Spec asks for. Every container carries the label ventapp=1 so that
// Sweep can remove what a crashed process left behind.
//
// The image helpers import and export OCI or docker-save archives, list and
// remove images, so that plugin images can be moved without a registry.
package containers
