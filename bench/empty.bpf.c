// SPDX-License-Identifier: GPL-2.0
/* The floor under the policy program's numbers: SCHED_CLS programs that do
 * nothing but return a verdict (0 = TCX_PASS, 2 = TCX_DROP, the same values
 * as nkit's NKIT_VERDICT_*). BPF_PROG_TEST_RUN of empty_pass is the cost of
 * the test-run loop itself; attached with tcx they are the cost of the hook.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int empty_pass(struct __sk_buff *skb)
{
	return 0;
}

SEC("tc")
int empty_drop(struct __sk_buff *skb)
{
	return 2;
}
