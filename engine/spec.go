package engine

import (
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/plugins"
)

// pluginSpec is the part of a container spec that comes from a plugin's
// template, the same for its jobs and its service containers: image,
// [docker] environment, volumes, network, limits, user and working folder,
// and the vent labels that name the tool. Callers add what a job or a
// service needs on top.
func pluginSpec(p *plugins.Plugin, id string) containers.Spec {
	d := p.Settings.Docker
	var mounts []containers.Mount
	for _, v := range d.Volumes {
		mounts = append(mounts, containers.Mount{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	return containers.Spec{
		ID:          id,
		Image:       p.Image,
		Env:         d.Environment,
		Mounts:      mounts,
		HostNetwork: d.HostNetwork,
		MemoryBytes: d.MemoryBytes,
		PidsLimit:   d.PidsLimit,
		User:        d.User,
		WorkingDir:  d.WorkingDir,
		Labels: map[string]string{
			"vent.name":    p.LinkName,
			"vent.section": p.Name,
			"vent.repo":    p.Repo,
			"vent.type":    "repository",
			LabelTool:      p.Name,
		},
	}
}
