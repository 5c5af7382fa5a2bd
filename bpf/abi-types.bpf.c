// SPDX-License-Identifier: GPL-2.0
/* Never loaded: compiled only so that the structs of nkit_abi.h appear
 * whole in an object's BTF, where test/unit/abi.test.ts reads their
 * layout. (policy.bpf.o reaches its per-container maps through arrays of
 * maps, and clang emits only forward declarations for the types of inner
 * maps.) */
#include "nkit_abi.h"

struct nkit_abi_types {
	struct nkit_cfg cfg;
	struct nkit_counter counter;
	struct nkit_cidr4_key cidr4_key;
	struct nkit_cidr6_key cidr6_key;
	struct nkit_cidrh_key cidrh_key;
	struct nkit_cidr_val cidr_val;
	struct nkit_port_key port_key;
	struct nkit_port_val port_val;
	struct nkit_ct_key ct_key;
	struct nkit_ct_val ct_val;
	struct nkit_event event;
};

struct nkit_abi_types nkit_abi_types __attribute__((used));
