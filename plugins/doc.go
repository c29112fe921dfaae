// Package plugins reads vent-style plugin tools and keeps the registry of
// the tools ventapp knows.
//
// A tool is a folder with a Dockerfile and a vent.template (see LoadDir for
// folders with several Dockerfiles). ParseTemplate reads the template,
// keeping every section and raw value as vent did, and ParseSettings turns
// the values ventapp uses into typed Settings with errors that name the
// file, line, section, key and value. Plugin.Matches and Match decide which
// tools run on a dropped file with vent's ext_types, process_base and
// process_from_tool rules. Registry persists the tools in a bucket of a
// bbolt file the caller owns (the daemon passes its job store), one JSON
// record per tool, imports the plugins.json older versions kept once, and
// can write the tools in the form of vent's plugin_manifest.cfg.
//
// Where ventapp departs from vent on purpose, the doc comment says so; the
// list is also in this folder's README.md.
package plugins
