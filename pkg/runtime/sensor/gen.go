package sensor

// The BPF objects and their Go bindings are committed, so building mamori
// needs no clang; this regenerates them (Debian: clang, llvm, libbpf-dev).
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -go-package sensor -type hdr -type exec_event -type exit_event -type open_event -type net_event -type sys_event -type config -type lpm_key -type kill_rule -type kill_cgroup_key -type name_key -type count_key sensor bpf/sensor.bpf.c
