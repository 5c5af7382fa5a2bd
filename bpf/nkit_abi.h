/* nkit's ABI between the BPF policy program and userspace.
 *
 * Numbers the kernel defines in linux >= 6.7 but bookworm's 6.1 headers lack
 * are defined here once; src/bpf/abi.ts holds the same values and
 * test/unit/abi.test.ts checks the two agree (numbers, and struct layouts
 * through the object's BTF). Structs have explicit padding so their layout
 * is the same in C and in TypeScript's Buffer codecs.
 */
#ifndef NKIT_ABI_H
#define NKIT_ABI_H

#include <linux/types.h>

/* Verdicts: netkit's NETKIT_* and tcx's TCX_* share these values, so one
 * program serves both datapaths. */
#define NKIT_VERDICT_NEXT     (-1)
#define NKIT_VERDICT_PASS     0
#define NKIT_VERDICT_DROP     2
#define NKIT_VERDICT_REDIRECT 7

/* BPF attach types (enum bpf_attach_type, linux 6.7+). */
#define NKIT_ATTACH_TCX_INGRESS    46
#define NKIT_ATTACH_TCX_EGRESS     47
#define NKIT_ATTACH_NETKIT_PRIMARY 54
#define NKIT_ATTACH_NETKIT_PEER    55

/* Directions, seen from the container. */
#define NKIT_DIR_INGRESS 0  /* towards the container */
#define NKIT_DIR_EGRESS  1  /* sent by the container */
#define NKIT_NDIRS       2

/* Counter slots per direction: why a packet passed or was dropped. */
#define NKIT_CNT_PASS           0  /* a rule (or allow-all) allowed it */
#define NKIT_CNT_DROP_POLICY    1  /* no rule allowed it */
#define NKIT_CNT_DROP_SPOOF     2  /* sent with a source that is not the container's */
#define NKIT_CNT_DROP_MALFORMED 3  /* truncated, fragment, or not IP/ARP */
#define NKIT_CNT_PASS_REPLY     4  /* a reply to a connection allowed the other way */
#define NKIT_CNT_PASS_NEIGH     5  /* ARP / IPv6 neighbour discovery on an L2 device */
#define NKIT_NCNT               6

/* What happens to a packet no rule matches, per generation and direction.
 * Zero is deny, so an entry nobody wrote yet (the kernel zero-fills array
 * maps) blocks everything. */
#define NKIT_DEFAULT_DENY  0
#define NKIT_DEFAULT_ALLOW 1
/* Deny, with no rule in either direction (deny-all): nothing passes, not
 * even replies to flows an earlier policy allowed; the program stops
 * before the connection table. */
#define NKIT_DEFAULT_BLACKHOLE 2

/* Prefix lengths the program looks up one by one in the hash "nkit_cidrh"
 * (longest first), per generation, direction and family; a rule set with
 * more distinct lengths goes into the LPM tries instead (NKIT_LENS_TRIE). */
#define NKIT_MAX_LENS  8
#define NKIT_LENS_TRIE 0xff

/* nkit_cfg.flags */
#define NKIT_CFG_F_NEIGH           1  /* L2 device: let ARP and ND through (with anti-spoofing) */
#define NKIT_CFG_F_CAPTURE_INGRESS 2  /* `nkit capture`: copy packets towards the container to nkit_events */
#define NKIT_CFG_F_CAPTURE_EGRESS  4  /* ... and packets it sends */

/* Bytes of each packet a capture keeps (the rest is cut, as tcpdump -s). */
#define NKIT_CAPTURE_SNAPLEN 256

/* Rule generations: userspace fills the inactive one, then flips nkit_gen. */
#define NKIT_NGENS 2

/* A BPF_PROG_TEST_RUN packet (on loopback, ifindex 1, where no container
 * traffic runs; cb[2] names the container's slot) with this skb mark is a
 * dry run (`nkit policy test`): no counters, no connection-table writes,
 * the IP header is read after an ethernet header (test runs always have
 * one), and the program leaves its reason in cb[0] (an NKIT_CNT_* slot)
 * and the allowing rule's index + 1 in cb[1]. */
#define NKIT_DRYRUN_MARK 0x6e6b7400

/* Container slots: the host device of slot s has ifindex
 * NKIT_IFINDEX_BASE + s (and on netkit so has the container's eth0), and
 * the arrays of maps hold the container's maps at index s. */
#define NKIT_IFINDEX_BASE 0x6e6b0000
#define NKIT_MAX_SLOTS    16384

/* Entries of a container's rule tries. */
#define NKIT_CIDR_MAX  65536
#define NKIT_PORTS_MAX 262144

/* Protocol numbers in rule keys; 0 means any protocol. */
#define NKIT_PROTO_ANY 0

/* One entry (key 0) of a container's "nkit_cfg" array map. */
struct nkit_cfg {
	__u32 l3_offset;        /* bytes before the IP header: 0 for netkit l3, 14 for ethernet */
	__u32 flags;            /* NKIT_CFG_F_* */
	__u32 default_action[NKIT_NGENS][NKIT_NDIRS]; /* NKIT_DEFAULT_*, per generation and direction */
	__u32 addr4;            /* the container's IPv4 address, network order (0: none) */
	__u8  addr6[16];        /* the container's IPv6 address (all zero: none) */
	__u32 capture_tag;      /* tells this container's events apart in nkit_events */
	/* [generation][direction][family: 0 IPv4, 1 IPv6]: how many prefix
	 * lengths the rules use (NKIT_LENS_TRIE: too many, use the LPM trie)
	 * and which, longest first. */
	__u8  nlens[NKIT_NGENS][NKIT_NDIRS][2];
	__u8  lens[NKIT_NGENS][NKIT_NDIRS][2][NKIT_MAX_LENS];
};

/* Value of the per-CPU "nkit_counters" array, indexed dir * NKIT_NCNT + slot. */
struct nkit_counter {
	__u64 packets;
	__u64 bytes;
};

/* Keys of the LPM tries "nkit_cidr4" / "nkit_cidr6": the remote address of
 * a packet (destination on egress, source on ingress). prefixlen counts
 * from gen: 32 bits of gen/dir/pad, then the address prefix. */
struct nkit_cidr4_key {
	__u32 prefixlen;
	__u8  gen;
	__u8  dir;
	__u8  pad[2];
	__u8  addr[4];
};
struct nkit_cidr6_key {
	__u32 prefixlen;
	__u8  gen;
	__u8  dir;
	__u8  pad[2];
	__u8  addr[16];
};
/* Key of the hash "nkit_cidrh": a remote address masked to one of the
 * lengths in nkit_cfg.lens (IPv4 in the first 4 bytes of addr). */
struct nkit_cidrh_key {
	__u8  gen;
	__u8  dir;
	__u8  family;           /* 4 or 6 */
	__u8  len;
	__u8  addr[16];
};
/* Value of the three: the port set that applies to addresses under the prefix
 * (the union of the rules of every prefix that covers it). */
struct nkit_cidr_val {
	__u32 set_id;
};

/* Key of the LPM trie "nkit_ports": 64 bits of gen/dir/proto/pad/set_id
 * (set_id big-endian), then the destination port (big-endian) as a prefix,
 * so a port range is a handful of prefixes. */
struct nkit_port_key {
	__u32 prefixlen;
	__u8  gen;
	__u8  dir;
	__u8  proto;
	__u8  pad;
	__u8  set_id[4];
	__u8  port[2];
	__u8  pad2[2];
};
/* Value: the index (in its direction's list) of the first rule that allows it. */
struct nkit_port_val {
	__u32 rule;
};

/* Key of the LRU hash "nkit_ct": one entry per flow, the same for its
 * packets both ways: the container's end first, then the remote end. */
struct nkit_ct_key {
	__u8  family;           /* 4 or 6 */
	__u8  proto;
	__u8  pad[2];
	__u16 cport;            /* container's port, network order; ICMP echo: the id */
	__u16 rport;            /* remote port, network order; ICMP echo: the id */
	__u8  caddr[16];        /* container's address; IPv4 in the first 4 bytes */
	__u8  raddr[16];        /* remote address */
};
/* A flow the policy allowed: later packets the same way pass without the
 * rules while gen is the policy generation in force; packets the other way
 * are replies. */
struct nkit_ct_val {
	__u64 last_seen_ns;     /* bpf_ktime_get_ns() of the last packet either way */
	__u32 gen;              /* nkit_gen's value when the rules allowed it */
	__u32 rule;             /* the allowing rule's index + 1; 0: the default allowed it */
	__u8  dir;              /* NKIT_DIR_* of the packet that opened it */
	__u8  pad[7];
};

/* One captured packet in the ring buffer "nkit_events" (shared by every
 * container on the host: its size bounds the memory, whatever the count). */
struct nkit_event {
	__u64 ts_ns;            /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 tag;              /* nkit_cfg.capture_tag of the container */
	__u32 len;              /* the packet's length on the wire */
	__u32 caplen;           /* bytes in data */
	__u32 rule;             /* allowing rule's index + 1, or 0 */
	__u8  dir;              /* NKIT_DIR_* */
	__u8  slot;             /* NKIT_CNT_*: the verdict and why */
	__u8  pad[6];
	__u8  data[NKIT_CAPTURE_SNAPLEN];
};

#endif
