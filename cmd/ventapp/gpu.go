package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ventapp/ventapp/gpu"
)

// gpuReport is the `ventapp gpu --json` output.
type gpuReport struct {
	// Available is false when no GPU can be used; Reason says why.
	Available bool         `json:"available"`
	Reason    string       `json:"reason,omitempty"`
	Devices   []gpu.Device `json:"devices"`
}

// newGPUInventory is the inventory cmdGPU reads; tests replace it.
var newGPUInventory = func() gpu.Inventory { return gpu.NewNVML(gpu.NVMLOptions{}) }

// cmdGPU lists this host's NVIDIA GPUs. It reads them itself through the
// NVIDIA management library, so no daemon is needed.
//
// Exit status: 0 when the devices were listed and also when the host has
// no usable GPU (no driver, no device, a build without cgo): that answer
// is printed as "no NVIDIA GPU found: <reason>", or "available": false
// with the reason in JSON. 1 when the driver failed while being read
// (ErrNVML), and 2 for a usage mistake.
func cmdGPU(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "gpu")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}

	inv := newGPUInventory()
	if c, ok := inv.(interface{ Close() error }); ok {
		defer c.Close()
	}
	devs, err := inv.Devices(ctx)
	if err == nil && len(devs) == 0 {
		err = fmt.Errorf("%w: the driver reports no devices", gpu.ErrNoDevice)
	}
	if err != nil && !gpu.Unavailable(err) {
		return err
	}

	rep := gpuReport{Available: err == nil, Devices: devs}
	if err != nil {
		rep.Reason = noGPUReason(err)
		rep.Devices = []gpu.Device{}
	}
	if *asJSON {
		return env.printJSON(rep)
	}
	if !rep.Available {
		fmt.Fprintf(env.stdout, "no NVIDIA GPU found: %s\n", rep.Reason)
		return nil
	}
	return printGPUTable(env, devs)
}

// noGPUReason drops the "no NVIDIA GPU found" prefix an error may already
// carry, so the line does not say it twice.
func noGPUReason(err error) string {
	msg := err.Error()
	if r, ok := strings.CutPrefix(msg, gpu.ErrNoDevice.Error()+": "); ok {
		return r
	}
	return msg
}

// printGPUTable prints one line per device and one per process.
func printGPUTable(env *cliEnv, devs []gpu.Device) error {
	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "INDEX\tNAME\tUUID\tMEMORY USED/TOTAL\tFREE\tUTIL\tPROCESSES")
	for _, d := range devs {
		util := "n/a"
		if d.UtilPercent >= 0 {
			util = fmt.Sprintf("%d%%", d.UtilPercent)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d/%d MiB\t%d MiB\t%s\t%d\n", d.Index, d.Name, d.UUID,
			d.MemUsedMB, d.MemTotalMB, d.MemFreeMB, util, len(d.Processes))
	}
	if err := w.Flush(); err != nil {
		return err
	}

	var procs []string
	for _, d := range devs {
		for _, p := range d.Processes {
			name := p.Name
			if name == "" {
				name = "?"
			}
			procs = append(procs, fmt.Sprintf("  gpu %d\tpid %d\t%s\t%d MiB", d.Index, p.PID, name, p.UsedMB))
		}
	}
	if len(procs) == 0 {
		return nil
	}
	fmt.Fprintln(env.stdout, "\nprocesses:")
	w = tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	for _, p := range procs {
		fmt.Fprintln(w, p)
	}
	return w.Flush()
}
