// SPDX-License-Identifier: GPL-2.0
/* nkit's per-container policy program.
 *
 * One object serves netkit (BPF_NETKIT_PEER / BPF_NETKIT_PRIMARY on the
 * primary) and the veth fallback (BPF_TCX_INGRESS / BPF_TCX_EGRESS on the
 * host-side veth): both take the same verdict numbers. The host loads it
 * once (verified once) and every container's devices run the same two
 * programs; the maps are per container (pinned under bpffsDir/<id>/),
 * found through arrays of maps by the container's slot. nkit creates the
 * host device with ifindex NKIT_IFINDEX_BASE + slot, and on netkit the
 * container's eth0 with the same ifindex: the peer program sees the host
 * device's ifindex, the primary program the container's, so both name the
 * slot (netkit sets skb->dev to the other end before it runs them).
 *
 * Per packet: parse (malformed, fragments and truncated headers are
 * dropped), anti-spoofing on egress, the connection table (one lookup: a
 * later packet of a flow the rules allowed passes without them while the
 * policy generation is the same; a packet the other way is a reply), then
 * the rules: a hash lookup of the remote address per prefix length the
 * rules use (the LPM tries past NKIT_MAX_LENS lengths) gives a port set,
 * one LPM lookup of (set, proto, port) allows it. deny-all and allow-all
 * stop before the connection table.
 * Default deny: a zero-filled config drops everything.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "nkit_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Connection-table idle timeouts, on the coarse monotonic clock
 * (bpf_ktime_get_coarse_ns: one tick's resolution, no clock read). */
#define CT_TIMEOUT_TCP_NS   (3600ULL * 1000000000ULL)
#define CT_TIMEOUT_OTHER_NS (120ULL * 1000000000ULL)

#define IPPROTO_ICMPV6_ 58
#define ETH_P_ARP_ 0x0806
#define MAX_EXT_HDRS 4

/* Each container's maps, created and pinned per container by userspace
 * (src/bpf/program.ts), are reached through one array of maps per kind,
 * indexed by the container's slot. These are the templates the kernel
 * checks a container's maps against (sizes, not BTF types: libbpf needs
 * full type definitions for those, and clang only emits them for the
 * outermost maps; bpf/abi-types.bpf.c carries the structs for the ABI
 * test). */
struct inner_cfg {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct nkit_cfg));
};

/* The active rule generation count (low bit: 0 or 1): its own map so that
 * flipping it is a single write no reader can see half-done. */
struct inner_gen {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
};

struct inner_counters {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NKIT_NDIRS * NKIT_NCNT);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct nkit_counter));
};

struct inner_cidr4 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NKIT_CIDR_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct nkit_cidr4_key));
	__uint(value_size, sizeof(struct nkit_cidr_val));
};

struct inner_cidr6 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NKIT_CIDR_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct nkit_cidr6_key));
	__uint(value_size, sizeof(struct nkit_cidr_val));
};

struct inner_cidrh {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * NKIT_CIDR_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct nkit_cidrh_key));
	__uint(value_size, sizeof(struct nkit_cidr_val));
};

struct inner_ports {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NKIT_PORTS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct nkit_port_key));
	__uint(value_size, sizeof(struct nkit_port_val));
};

/* A container's own is sized from the config (conntrackSize). */
struct inner_ct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(struct nkit_ct_key));
	__uint(value_size, sizeof(struct nkit_ct_val));
};

#define SLOT_MAP(name, inner)                          \
	struct {                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); \
		__uint(max_entries, NKIT_MAX_SLOTS);   \
		__type(key, __u32);                    \
		__array(values, struct inner);         \
	} name SEC(".maps")

SLOT_MAP(nkit_slot_cfg, inner_cfg);
SLOT_MAP(nkit_slot_gen, inner_gen);
SLOT_MAP(nkit_slot_cnt, inner_counters);
SLOT_MAP(nkit_slot_cidr4, inner_cidr4);
SLOT_MAP(nkit_slot_cidr6, inner_cidr6);
SLOT_MAP(nkit_slot_cidrh, inner_cidrh);
SLOT_MAP(nkit_slot_ports, inner_ports);
SLOT_MAP(nkit_slot_ct, inner_ct);

/* Captured packets of every container (`nkit capture`), pinned with the
 * programs (src/bpf/shared.ts). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nkit_events SEC(".maps");

struct pkt {
	__u8 family;            /* 4 or 6 */
	__u8 proto;
	__u8 neigh;             /* ARP, or ICMPv6 neighbour discovery */
	__u8 echo;              /* 1: ICMP echo request, 2: echo reply */
	__be16 sport;
	__be16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

enum { PARSE_OK = 0, PARSE_MALFORMED = -1 };

/* Copies len bytes at off: straight from the packet when they are in its
 * linear part (no helper call), else through bpf_skb_load_bytes. */
#define LOAD(skb, off, to, len)                                                   \
	({                                                                        \
		void *data_ = (void *)(long)(skb)->data;                          \
		void *end_ = (void *)(long)(skb)->data_end;                       \
		__u32 off_ = (off);                                               \
		int r_ = 0;                                                       \
		if (off_ < 512 && data_ + off_ + (len) <= end_)                   \
			__builtin_memcpy((to), data_ + off_, (len));              \
		else                                                              \
			r_ = bpf_skb_load_bytes((skb), off_, (to), (len));        \
		r_;                                                               \
	})

static __always_inline void count(void *counters, __u32 dir, __u32 slot, __u32 len)
{
	__u32 key = dir * NKIT_NCNT + slot;
	struct nkit_counter *c = counters ? bpf_map_lookup_elem(counters, &key) : NULL;

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline int parse_l4(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	__u8 h[8];

	switch (p->proto) {
	case IPPROTO_TCP: {
		__u8 tcp[20];

		if (LOAD(skb, off, tcp, sizeof(tcp)))
			return PARSE_MALFORMED;
		__builtin_memcpy(&p->sport, &tcp[0], 2);
		__builtin_memcpy(&p->dport, &tcp[2], 2);
		return PARSE_OK;
	}
	case IPPROTO_UDP:
		if (LOAD(skb, off, h, 8))
			return PARSE_MALFORMED;
		__builtin_memcpy(&p->sport, &h[0], 2);
		__builtin_memcpy(&p->dport, &h[2], 2);
		return PARSE_OK;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		if (LOAD(skb, off, h, 8))
			return PARSE_MALFORMED;
		if ((p->proto == IPPROTO_ICMP && h[0] == 8) || (p->proto == IPPROTO_ICMPV6_ && h[0] == 128))
			p->echo = 1;
		else if ((p->proto == IPPROTO_ICMP && h[0] == 0) || (p->proto == IPPROTO_ICMPV6_ && h[0] == 129))
			p->echo = 2;
		else if (p->proto == IPPROTO_ICMPV6_ && h[0] >= 133 && h[0] <= 137)
			p->neigh = 1;
		/* Echo request and reply share the id: it stands for both ports. */
		if (p->echo) {
			__builtin_memcpy(&p->sport, &h[4], 2);
			p->dport = p->sport;
		}
		return PARSE_OK;
	}
	return PARSE_OK;
}

static __always_inline int parse(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	__u16 eth_proto = bpf_ntohs(skb->protocol);

	if (eth_proto == ETH_P_ARP_) {
		__u8 arp[28];

		/* An ARP packet for IPv4 over ethernet: keep the sender address. */
		if (LOAD(skb, off, arp, sizeof(arp)) || arp[4] != 6 || arp[5] != 4)
			return PARSE_MALFORMED;
		p->family = 4;
		p->neigh = 1;
		__builtin_memcpy(p->saddr, &arp[14], 4);
		__builtin_memcpy(p->daddr, &arp[24], 4);
		return PARSE_OK;
	}
	if (eth_proto == ETH_P_IP) {
		__u8 ip[20];
		__u16 frag;

		if (LOAD(skb, off, ip, sizeof(ip)))
			return PARSE_MALFORMED;
		if ((ip[0] >> 4) != 4 || (ip[0] & 0xf) < 5)
			return PARSE_MALFORMED;
		/* Fragments carry no (or a partial) L4 header: never judge them. */
		__builtin_memcpy(&frag, &ip[6], 2);
		if (bpf_ntohs(frag) & 0x3fff)
			return PARSE_MALFORMED;
		p->family = 4;
		p->proto = ip[9];
		__builtin_memcpy(p->saddr, &ip[12], 4);
		__builtin_memcpy(p->daddr, &ip[16], 4);
		return parse_l4(skb, off + (ip[0] & 0xf) * 4, p);
	}
	if (eth_proto == ETH_P_IPV6) {
		__u8 ip6[40];
		__u8 next;

		if (LOAD(skb, off, ip6, sizeof(ip6)))
			return PARSE_MALFORMED;
		if ((ip6[0] >> 4) != 6)
			return PARSE_MALFORMED;
		p->family = 6;
		__builtin_memcpy(p->saddr, &ip6[8], 16);
		__builtin_memcpy(p->daddr, &ip6[24], 16);
		next = ip6[6];
		off += 40;
#pragma unroll
		for (int i = 0; i < MAX_EXT_HDRS; i++) {
			__u8 ext[2];

			if (next == 44) /* fragment header */
				return PARSE_MALFORMED;
			if (next != 0 && next != 43 && next != 60)
				break;
			if (LOAD(skb, off, ext, sizeof(ext)))
				return PARSE_MALFORMED;
			next = ext[0];
			off += (ext[1] + 1) * 8;
		}
		if (next == 0 || next == 43 || next == 60 || next == 44)
			return PARSE_MALFORMED; /* too many extension headers */
		p->proto = next;
		return parse_l4(skb, off, p);
	}
	return PARSE_MALFORMED;
}

/* The common packet: IPv4 without options carrying TCP or UDP, its headers
 * in the linear part. One bounds check and no copies; it costs a third of
 * parse()'s time on the in-kernel path (fewer branches and code). Returns 1
 * when it filled p, 0 to leave the packet to parse(), which decides these
 * packets the same way. */
static __always_inline int parse_ipv4_fast(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *ip;
	__u16 frag;

	if (skb->protocol != bpf_htons(ETH_P_IP) || off > ETH_HLEN)
		return 0;
	ip = data + off;
	/* 20 bytes of IPv4 and 20 of TCP, or UDP's 8 and 12 of payload. */
	if ((void *)(ip + 40) > end || ip[0] != 0x45)
		return 0;
	__builtin_memcpy(&frag, ip + 6, 2);
	if (frag & bpf_htons(0x3fff))
		return 0;
	if (ip[9] != IPPROTO_TCP && ip[9] != IPPROTO_UDP)
		return 0;
	p->family = 4;
	p->proto = ip[9];
	__builtin_memcpy(p->saddr, ip + 12, 4);
	__builtin_memcpy(p->daddr, ip + 16, 4);
	__builtin_memcpy(&p->sport, ip + 20, 2);
	__builtin_memcpy(&p->dport, ip + 22, 2);
	return 1;
}

static __always_inline int addr6_eq(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

/* Egress: is the source the container's own address? Neighbour discovery
 * may also come from a link-local or the unspecified address. */
static __always_inline int spoofed(const struct nkit_cfg *cfg, const struct pkt *p)
{
	if (p->family == 4) {
		__u32 src;

		__builtin_memcpy(&src, p->saddr, 4);
		return cfg->addr4 == 0 || src != cfg->addr4;
	}
	if (addr6_eq(p->saddr, cfg->addr6)) {
		__u64 z0, z1;

		__builtin_memcpy(&z0, cfg->addr6, 8);
		__builtin_memcpy(&z1, cfg->addr6 + 8, 8);
		return (z0 | z1) == 0;
	}
	if (p->neigh) {
		__u64 s0, s1;

		__builtin_memcpy(&s0, p->saddr, 8);
		__builtin_memcpy(&s1, p->saddr + 8, 8);
		if ((s0 | s1) == 0)
			return 0; /* :: during duplicate address detection */
		if (p->saddr[0] == 0xfe && (p->saddr[1] & 0xc0) == 0x80)
			return 0; /* fe80::/10 */
	}
	return 1;
}

static __always_inline int ct_eligible(const struct pkt *p)
{
	return p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || p->echo;
}

/* The flow's key from either direction: the container's end first. */
static __always_inline void ct_key_of(struct nkit_ct_key *k, const struct pkt *p, __u32 dir)
{
	int out = dir == NKIT_DIR_EGRESS;

	__builtin_memset(k, 0, sizeof(*k));
	k->family = p->family;
	k->proto = p->proto;
	k->cport = out ? p->sport : p->dport;
	k->rport = out ? p->dport : p->sport;
	__builtin_memcpy(k->caddr, out ? p->saddr : p->daddr, 16);
	__builtin_memcpy(k->raddr, out ? p->daddr : p->saddr, 16);
}

/* Another CPU may have stamped the flow after this one read the clock:
 * a timestamp ahead of now is fresh, not 2^64 ns old. */
static __always_inline int ct_fresh(const struct nkit_ct_val *v, const struct pkt *p, __u64 now)
{
	__u64 last = v->last_seen_ns;

	return now <= last || now - last <= (p->proto == IPPROTO_TCP ? CT_TIMEOUT_TCP_NS : CT_TIMEOUT_OTHER_NS);
}

/* nkit_masks[len][w]: word w of a 128-bit mask of len leading ones, in
 * network order (an IPv4 address uses word 0). A table, not arithmetic:
 * the branches of computing it made the verifier walk ~40,000 more
 * instructions per program. */
#define MASK_BITS(l, w) ((l) <= 32 * (w) ? 0 : (l) >= 32 * (w) + 32 ? 32 : (l) - 32 * (w))
#define MASK_W(l, w) ((__u32)(0xffffffff00000000ULL >> MASK_BITS(l, w)))
#define MASK_ROW(l) { __bpf_constant_htonl(MASK_W(l, 0)), __bpf_constant_htonl(MASK_W(l, 1)), \
		      __bpf_constant_htonl(MASK_W(l, 2)), __bpf_constant_htonl(MASK_W(l, 3)) }
#define MASK_ROW8(l) MASK_ROW(l), MASK_ROW(l + 1), MASK_ROW(l + 2), MASK_ROW(l + 3), \
		     MASK_ROW(l + 4), MASK_ROW(l + 5), MASK_ROW(l + 6), MASK_ROW(l + 7)
static const __u32 nkit_masks[129][4] = {
	MASK_ROW8(0), MASK_ROW8(8), MASK_ROW8(16), MASK_ROW8(24), MASK_ROW8(32), MASK_ROW8(40), MASK_ROW8(48), MASK_ROW8(56),
	MASK_ROW8(64), MASK_ROW8(72), MASK_ROW8(80), MASK_ROW8(88), MASK_ROW8(96), MASK_ROW8(104), MASK_ROW8(112), MASK_ROW8(120),
	MASK_ROW(128),
};

/* The port set of the longest prefix that holds the remote address: a
 * hash lookup per prefix length the rules use (a handful at most, so the
 * cost does not grow with the rules), or the LPM trie when they use more
 * lengths than NKIT_MAX_LENS. */
static __always_inline struct nkit_cidr_val *remote_set(__u32 slot, const struct nkit_cfg *cfg, const __u8 *remote, __u8 family, __u32 dir, __u8 gen)
{
	__u32 fam = family == 6;
	__u8 n = cfg->nlens[gen & 1][dir & 1][fam];
	void *m;

	if (n == NKIT_LENS_TRIE) {
		if (family == 4) {
			struct nkit_cidr4_key k = { .prefixlen = 64, .gen = gen, .dir = dir };

			m = bpf_map_lookup_elem(&nkit_slot_cidr4, &slot);
			if (!m)
				return NULL;
			__builtin_memcpy(k.addr, remote, 4);
			return bpf_map_lookup_elem(m, &k);
		} else {
			struct nkit_cidr6_key k = { .prefixlen = 160, .gen = gen, .dir = dir };

			m = bpf_map_lookup_elem(&nkit_slot_cidr6, &slot);
			if (!m)
				return NULL;
			__builtin_memcpy(k.addr, remote, 16);
			return bpf_map_lookup_elem(m, &k);
		}
	}
	m = bpf_map_lookup_elem(&nkit_slot_cidrh, &slot);
	if (!m)
		return NULL;
	{
		struct nkit_cidrh_key k = { .gen = gen, .dir = dir, .family = family };
		__u32 a[4];

		__builtin_memcpy(&a[0], remote, 4);
		if (family == 4) {
			a[1] = 0;
			a[2] = 0;
			a[3] = 0;
		} else {
			__builtin_memcpy(&a[1], remote + 4, 12);
		}
#pragma unroll
		for (int i = 0; i < NKIT_MAX_LENS; i++) {
			struct nkit_cidr_val *v;
			__u32 len, w[4];

			if (i >= n)
				break;
			len = cfg->lens[gen & 1][dir & 1][fam][i];
			if (len > 128)
				break;
			k.len = len;
			w[0] = a[0] & nkit_masks[len][0];
			w[1] = a[1] & nkit_masks[len][1];
			w[2] = a[2] & nkit_masks[len][2];
			w[3] = a[3] & nkit_masks[len][3];
			__builtin_memcpy(k.addr, w, 16);
			v = bpf_map_lookup_elem(m, &k);
			if (v)
				return v;
		}
	}
	return NULL;
}

/* The rules: the remote address's port set, then (set, proto, port).
 * Returns the allowing rule's index + 1, or 0. */
static __always_inline __u32 rules_allow(__u32 slot, const struct nkit_cfg *cfg, const struct pkt *p, __u32 dir, __u8 gen)
{
	struct nkit_port_val *pv;
	const __u8 *remote = dir == NKIT_DIR_EGRESS ? p->daddr : p->saddr;
	struct nkit_cidr_val *set;
	struct nkit_port_key pk = {};
	void *ports = bpf_map_lookup_elem(&nkit_slot_ports, &slot);

	if (!ports)
		return 0;
	set = remote_set(slot, cfg, remote, p->family, dir, gen);
	if (!set)
		return 0;
	pk.prefixlen = 80;
	pk.gen = gen;
	pk.dir = dir;
	pk.proto = p->proto;
	pk.set_id[0] = set->set_id >> 24;
	pk.set_id[1] = set->set_id >> 16;
	pk.set_id[2] = set->set_id >> 8;
	pk.set_id[3] = set->set_id;
	__builtin_memcpy(pk.port, &p->dport, 2);
	pv = bpf_map_lookup_elem(ports, &pk);
	if (pv)
		return pv->rule + 1;
	pk.proto = NKIT_PROTO_ANY;
	pk.port[0] = 0;
	pk.port[1] = 0;
	pv = bpf_map_lookup_elem(ports, &pk);
	return pv ? pv->rule + 1 : 0;
}

/* Fills a reserved event. Not inlined: its cost falls only on captured
 * packets. */
static __noinline int fill_event(struct __sk_buff *skb, struct nkit_event *e, __u32 caplen)
{
	__u32 n;

	e->caplen = 0;
	if (caplen < 1 || caplen > NKIT_CAPTURE_SNAPLEN)
		return 0;
	/* A length the verifier of older kernels (6.12) can prove is 1..256. */
	n = ((caplen - 1) & (NKIT_CAPTURE_SNAPLEN - 1)) + 1;
	if (bpf_skb_load_bytes(skb, 0, e->data, n) == 0)
		e->caplen = n;
	return 0;
}

static __always_inline void capture(struct __sk_buff *skb, const struct nkit_cfg *cfg, __u32 dir, __u32 slot, __u32 rule)
{
	struct nkit_event *e;
	__u32 caplen = skb->len;

	if (!(cfg->flags & (dir == NKIT_DIR_INGRESS ? NKIT_CFG_F_CAPTURE_INGRESS : NKIT_CFG_F_CAPTURE_EGRESS)))
		return;
	e = bpf_ringbuf_reserve(&nkit_events, sizeof(*e), 0);
	if (!e)
		return;
	if (caplen > NKIT_CAPTURE_SNAPLEN)
		caplen = NKIT_CAPTURE_SNAPLEN;
	e->ts_ns = bpf_ktime_get_ns();
	e->tag = cfg->capture_tag;
	e->len = skb->len;
	e->rule = rule;
	e->dir = dir;
	e->slot = slot;
	fill_event(skb, e, caplen);
	bpf_ringbuf_submit(e, 0);
}

/* Counts the verdict (and captures the packet when asked), or in a dry run
 * reports it through cb[]. */
static __always_inline int verdict(struct __sk_buff *skb, void *counters, const struct nkit_cfg *cfg, __u32 dir, __u32 slot, __u32 rule, int dry)
{
	if (dry) {
		skb->cb[0] = slot;
		skb->cb[1] = rule;
	} else {
		count(counters, dir, slot, skb->len);
		if (cfg)
			capture(skb, cfg, dir, slot, rule);
	}
	return slot == NKIT_CNT_PASS || slot == NKIT_CNT_PASS_REPLY || slot == NKIT_CNT_PASS_NEIGH ? NKIT_VERDICT_PASS
											: NKIT_VERDICT_DROP;
}

static __always_inline int decide(struct __sk_buff *skb, __u32 dir)
{
	/* Loopback never carries container traffic: there only test runs
	 * (BPF_PROG_TEST_RUN) come, and they name the slot in cb[2]. */
	int test = skb->ifindex == 1;
	__u32 slot = test ? skb->cb[2] : skb->ifindex - NKIT_IFINDEX_BASE;
	int dry = test && skb->mark == NKIT_DRYRUN_MARK;
	void *m_cfg, *m_gen, *counters, *ct = NULL;
	struct nkit_cfg *cfg = NULL;
	struct nkit_ct_val *flow = NULL;
	struct nkit_ct_key k;
	struct pkt p = {};
	__u32 zero = 0, *genp = NULL;
	__u64 now = 0;
	__u32 rule, genv, l3;
	__u8 gen;
	int tracked;

	/* A device without a container's maps in its slot (not set up yet,
	 * or torn down) passes nothing. */
	if (slot >= NKIT_MAX_SLOTS)
		return NKIT_VERDICT_DROP;
	counters = bpf_map_lookup_elem(&nkit_slot_cnt, &slot);
	m_cfg = bpf_map_lookup_elem(&nkit_slot_cfg, &slot);
	m_gen = bpf_map_lookup_elem(&nkit_slot_gen, &slot);
	if (m_cfg)
		cfg = bpf_map_lookup_elem(m_cfg, &zero);
	if (m_gen)
		genp = bpf_map_lookup_elem(m_gen, &zero);
	if (!cfg || !genp)
		return verdict(skb, counters, cfg, dir, NKIT_CNT_DROP_POLICY, 0, dry);
	genv = *genp;
	gen = genv & 1;
	/* A test run always carries an ethernet header, whatever the device. */
	l3 = dry ? ETH_HLEN : cfg->l3_offset;
	if (!parse_ipv4_fast(skb, l3, &p) && parse(skb, l3, &p) != PARSE_OK)
		return verdict(skb, counters, cfg, dir, NKIT_CNT_DROP_MALFORMED, 0, dry);
	if (dir == NKIT_DIR_EGRESS && spoofed(cfg, &p))
		return verdict(skb, counters, cfg, dir, NKIT_CNT_DROP_SPOOF, 0, dry);
	if (p.neigh)
		return verdict(skb, counters, cfg, dir, cfg->flags & NKIT_CFG_F_NEIGH ? NKIT_CNT_PASS_NEIGH : NKIT_CNT_DROP_POLICY, 0, dry);
	/* deny-all: nothing can pass, so nothing to look up. */
	if (cfg->default_action[gen][dir & 1] == NKIT_DEFAULT_BLACKHOLE)
		return verdict(skb, counters, cfg, dir, NKIT_CNT_DROP_POLICY, 0, dry);
	/* allow-all: everything passes both ways, so there is nothing to track
	 * (the table costs more than the rest of the program). A later policy
	 * starts from the container's sockets instead (src/policy/flows.ts). */
	if (cfg->default_action[gen][0] == NKIT_DEFAULT_ALLOW && cfg->default_action[gen][1] == NKIT_DEFAULT_ALLOW)
		return verdict(skb, counters, cfg, dir, NKIT_CNT_PASS, 0, dry);
	/* One lookup finds the flow, whichever way the packet goes. */
	tracked = ct_eligible(&p);
	if (tracked)
		ct = bpf_map_lookup_elem(&nkit_slot_ct, &slot);
	if (!ct)
		tracked = 0;
	if (tracked) {
		ct_key_of(&k, &p, dir);
		flow = bpf_map_lookup_elem(ct, &k);
		if (flow) {
			now = bpf_ktime_get_coarse_ns();
			if (!ct_fresh(flow, &p, now)) {
				flow = NULL; /* idle too long: as if it never was */
			} else if (flow->dir == dir) {
				/* The way it was allowed: the rules need not run
				 * again while the policy stays the same. */
				if (flow->gen == genv) {
					rule = flow->rule;
					if (!dry && flow->last_seen_ns != now)
						flow->last_seen_ns = now;
					return verdict(skb, counters, cfg, dir, NKIT_CNT_PASS, rule, dry);
				}
			} else if (p.echo != 1) {
				/* The other way: a reply (an echo request never is). */
				if (!dry && flow->last_seen_ns != now)
					flow->last_seen_ns = now;
				return verdict(skb, counters, cfg, dir, NKIT_CNT_PASS_REPLY, 0, dry);
			} else {
				flow = NULL; /* an echo request against a flow opened the other way */
			}
		}
	}
	rule = cfg->default_action[gen][dir & 1] == NKIT_DEFAULT_ALLOW ? 0 : rules_allow(slot, cfg, &p, dir, gen);
	if (rule || cfg->default_action[gen][dir & 1] == NKIT_DEFAULT_ALLOW) {
		if (tracked && !dry) {
			if (!now)
				now = bpf_ktime_get_coarse_ns();
			if (flow) {
				/* Opened this way under an older policy that this one allows too. */
				flow->gen = genv;
				flow->rule = rule;
				flow->last_seen_ns = now;
			} else {
				struct nkit_ct_val v = { .last_seen_ns = now, .gen = genv, .rule = rule, .dir = dir };

				bpf_map_update_elem(ct, &k, &v, BPF_ANY);
			}
		}
		return verdict(skb, counters, cfg, dir, NKIT_CNT_PASS, rule, dry);
	}
	/* A flow the policy in force no longer allows: its replies stop too. */
	if (flow && ct && !dry)
		bpf_map_delete_elem(ct, &k);
	return verdict(skb, counters, cfg, dir, NKIT_CNT_DROP_POLICY, 0, dry);
}

/* Packets the container sends: netkit peer, or tcx ingress of the host veth. */
SEC("tc")
int nkit_egress(struct __sk_buff *skb)
{
	return decide(skb, NKIT_DIR_EGRESS);
}

/* Packets towards the container: netkit primary, or tcx egress of the host veth. */
SEC("tc")
int nkit_ingress(struct __sk_buff *skb)
{
	return decide(skb, NKIT_DIR_INGRESS);
}
