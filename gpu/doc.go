// Package gpu finds NVIDIA GPUs and decides which waiting GPU job runs on
// which device.
//
// It has three parts:
//
//   - An [Inventory] lists the devices with their memory, utilisation and
//     processes. [NVML] reads them through the NVIDIA management library
//     (go-nvml, cgo only); [StaticInventory] serves fixed values to tests and
//     to callers that have no GPU.
//   - A [Scheduler] keeps GPU jobs in a queue of its own, so a waiting job
//     holds no worker, and hands out devices by declared memory, dedication
//     and pinning, with backfill that cannot starve a large job forever.
//   - [ContainerDevices] says what a container needs to see its GPU: a CDI
//     device name when the NVIDIA Container Toolkit has written specs, else
//     the device nodes and NVIDIA_VISIBLE_DEVICES.
//
// Plugins ask for a GPU in their template's [gpu] section; [RequestFrom]
// turns the parsed section into a [Request].
package gpu
