// Command gpu-probe is the plugin scripts/gpu-check.sh runs as a GPU job:
// it prints what the container can see of its GPU — the /dev/nvidia*
// nodes, NVIDIA_VISIBLE_DEVICES and whether driver libraries were
// injected — one line each, then the input file it was given.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	nodes, _ := filepath.Glob("/dev/nvidia*")
	if len(nodes) == 0 {
		fmt.Println("gpu-probe: no /dev/nvidia* nodes in the container")
	}
	for _, n := range nodes {
		fi, err := os.Stat(n)
		if err != nil {
			fmt.Printf("gpu-probe: node %s: %v\n", n, err)
			continue
		}
		fmt.Printf("gpu-probe: node %s %s\n", n, fi.Mode())
	}
	fmt.Printf("gpu-probe: NVIDIA_VISIBLE_DEVICES=%q\n", os.Getenv("NVIDIA_VISIBLE_DEVICES"))

	var libs []string
	for _, pat := range []string{"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so*", "/usr/lib64/libnvidia-ml.so*",
		"/usr/lib/libnvidia-ml.so*", "/usr/lib/x86_64-linux-gnu/libcuda.so*", "/usr/lib64/libcuda.so*"} {
		m, _ := filepath.Glob(pat)
		libs = append(libs, m...)
	}
	fmt.Printf("gpu-probe: driver libraries injected: %d %v\n", len(libs), libs)
	fmt.Printf("gpu-probe: input %v\n", os.Args[1:])
}
