// Package portmap publishes the ports of containers that run in a network
// namespace of their own, without CNI, bridges or iptables.
//
// ventapp gives a service container a fresh network namespace that holds
// only lo. Nothing outside can route to it, so a port is published the way
// docker-proxy does it, in user space: a Publisher listens on the host
// address and port, and for every TCP connection it accepts it opens a
// second connection to 127.0.0.1:<container port> inside the container's
// namespace and copies bytes both ways. A socket belongs to the namespace
// of the thread that created it, so the dial runs on a goroutine locked to
// its OS thread that joins the namespace with setns(CLONE_NEWNET) through
// /proc/<pid>/ns/net, creates and connects the socket, and joins its own
// namespace again before it unlocks the thread. Should that last step fail,
// the thread stays locked and the Go runtime ends it with the goroutine, so
// no other goroutine ever runs in the container's namespace by accident.
//
// The pid is asked for on every new connection (Options.Pid), because a
// supervised container gets a new process, and with it possibly a new
// namespace, each time it restarts. Connections already open keep the
// socket they have.
//
// UDP is relayed per client address: the first datagram from a client
// opens a connected UDP socket inside the namespace, replies on it go back
// to that client from the published port, and the session ends after
// Options.UDPIdle without traffic.
//
// # Limits
//
// The container sees every connection coming from 127.0.0.1, not from the
// real client. Only the container's loopback is dialled, so a service must
// listen on 127.0.0.1 or on every address (0.0.0.0 or ::) inside its
// namespace, which holds nothing else anyway. There is no
// container-to-container network: containers reach each other only through
// published host ports. The package is Linux-only and needs the privileges
// to call setns (root, or CAP_SYS_ADMIN with access to /proc/<pid>/ns/net).
//
// # Port specs
//
// Parse and FromValue read vent's [docker] ports values, which are the
// port_bindings of docker-py's containers.run written as Python literals:
//
//	{'9200/tcp': ('0.0.0.0', None)}    random host port on every IPv4 address
//	{'514/tcp': ('127.0.0.1', 514)}    a fixed address and port
//	{'80/tcp': 8080, '53/udp': None}   a host port; None is a random one
//	{'80': [8080, ('::1', 8081)]}      several host ports for one container port
//	{'80/tcp': {'HostIp': '', 'HostPort': '8080'}}
//
// A key without "/proto" is TCP. A host IP of "" (or no host IP) means every
// address, IPv4 and IPv6. Exposed reads an image's exposed ports for
// publish_all_ports, each to a random port on every address.
package portmap
