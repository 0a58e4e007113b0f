// Package enrich tells which container and pod a process runs in, from the
// cgroup v2 ID the eBPF sensor reports with each event.
//
// A Resolver turns the ID into its cgroup path (open_by_handle_at with a
// kernfs file handle, or a walk of the hierarchy where that is not
// permitted), parses the path for the container ID and pod UID the kubelet
// and the container runtimes put there (ParseCgroupPath), and completes the
// container from Pods, a node-local watch of the API server's pods. Results
// are cached per cgroup ID in a bounded LRU so that the event loop's lookups
// cost a map access and no allocation.
package enrich
