// SPDX-License-Identifier: Apache-2.0
/* The packet source of bench/policy-cost: sends prebuilt ethernet frames out
 * of veth devices in several network namespaces, taking turns between them,
 * and reports the CPU time each one cost.
 *
 *   sender CPU KSOFTIRQD_PID BURST_US ROUNDS JOB...
 *   JOB = NETNS_PATH,IFNAME,HEXFRAME
 *
 * Each job gets an AF_PACKET socket in its namespace. A round gives every
 * job one burst of BURST_US microseconds of CPU time (sendmmsg of BATCH
 * copies of its frame, again and again), starting at a different job each
 * round; the first round is a warm-up and is not counted. Taking turns this
 * often puts every variant under the same ambient load, which on a shared
 * 2-core VM moves the whole path by 20% from one second to the next.
 *
 * The frame goes through dev_queue_xmit (no PACKET_QDISC_BYPASS, which
 * would skip the tc egress hook), veth hands it to its peer, and the peer's
 * receive path (tcx and netdev ingress, then ip_rcv, which drops it as
 * PACKET_OTHERHOST) runs in this thread's softirq on local_bh_enable. The
 * kernel has no IRQ_TIME_ACCOUNTING, so that softirq time is charged to this
 * thread: CLOCK_THREAD_CPUTIME_ID covers the path. What the softirq leaves
 * to ksoftirqd on this CPU (it does when other tasks want the CPU) is read
 * from ksoftirqd's schedstat (KSOFTIRQD_PID, 0: not measured) and reported
 * apart, for the caller to add; wall time shows how much of the CPU other
 * work took meanwhile.
 *
 * Prints one line per job: packets cpu_ns wall_ns (counted rounds), every
 * packet sent including the warm-up (to check against device counters), and
 * ksoftirqd's CPU time during the job's counted bursts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define MAX_JOBS 64
#define MAX_FRAME 2048

struct job {
	int fd;
	struct sockaddr_ll sll;
	unsigned char frame[MAX_FRAME];
	struct iovec iov;
	struct mmsghdr msgs[BATCH];
	long long packets, cpu_ns, wall_ns;
	long long total;        /* with the warm-up round */
	long long softirqd_ns;
};

static struct job jobs[MAX_JOBS];
static int schedstat_fd = -1;

static long long now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ksoftirqd's total CPU time (the first field of /proc/PID/schedstat). */
static long long softirqd_ns(void)
{
	char buf[128];
	ssize_t n;

	if (schedstat_fd < 0)
		return 0;
	n = pread(schedstat_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return atoll(buf);
}

static int fail(const char *what, const char *obj)
{
	fprintf(stderr, "sender: %s %s: %s\n", what, obj, strerror(errno));
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses NETNS_PATH,IFNAME,HEXFRAME and opens the job's socket in its netns. */
static int setup(struct job *j, char *spec)
{
	char *nspath = strtok(spec, ","), *ifname = strtok(NULL, ","), *hex = strtok(NULL, ",");
	size_t len, i;
	int ns;

	if (!nspath || !ifname || !hex || strlen(hex) % 2 || strlen(hex) / 2 > MAX_FRAME ||
	    strlen(hex) / 2 < ETH_HLEN + 20) {
		fprintf(stderr, "sender: bad job (want NETNS_PATH,IFNAME,HEXFRAME)\n");
		return 2;
	}
	len = strlen(hex) / 2;
	for (i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			fprintf(stderr, "sender: bad hex frame\n");
			return 2;
		}
		j->frame[i] = (unsigned char)(hi << 4 | lo);
	}
	ns = open(nspath, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return fail("open netns", nspath);
	if (setns(ns, CLONE_NEWNET))
		return fail("setns", nspath);
	close(ns);
	/* Protocol 0: the socket receives nothing, so no tap sees our frames. */
	j->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (j->fd < 0)
		return fail("socket AF_PACKET in", nspath);
	j->sll.sll_family = AF_PACKET;
	j->sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!j->sll.sll_ifindex)
		return fail("if_nametoindex", ifname);
	/* Becomes skb->protocol, which the policy program parses by. */
	j->sll.sll_protocol = htons((unsigned short)(j->frame[12] << 8 | j->frame[13]));
	j->sll.sll_halen = ETH_ALEN;
	memcpy(j->sll.sll_addr, j->frame, ETH_ALEN);
	j->iov.iov_base = j->frame;
	j->iov.iov_len = len;
	for (i = 0; i < BATCH; i++) {
		j->msgs[i].msg_hdr.msg_name = &j->sll;
		j->msgs[i].msg_hdr.msg_namelen = sizeof(j->sll);
		j->msgs[i].msg_hdr.msg_iov = &j->iov;
		j->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

/* One burst: at least burst_ns of this thread's CPU time. */
static int burst(struct job *j, long long burst_ns, int count)
{
	long long s0 = softirqd_ns(), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC), c, sent = 0;

	do {
		int n = sendmmsg(j->fd, j->msgs, BATCH, 0);

		if (n < 0)
			return -1;
		sent += n;
		j->total += n;
		c = now_ns(CLOCK_THREAD_CPUTIME_ID);
	} while (c - c0 < burst_ns);
	if (count) {
		j->packets += sent;
		j->cpu_ns += c - c0;
		j->wall_ns += now_ns(CLOCK_MONOTONIC) - w0;
		j->softirqd_ns += softirqd_ns() - s0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	cpu_set_t cpus;
	long long burst_ns;
	int njobs, rounds, r, i, rc;

	if (argc < 6 || argc - 5 > MAX_JOBS) {
		fprintf(stderr, "usage: sender CPU KSOFTIRQD_PID BURST_US ROUNDS JOB... (JOB = NETNS_PATH,IFNAME,HEXFRAME; at most %d)\n",
			MAX_JOBS);
		return 2;
	}
	CPU_ZERO(&cpus);
	CPU_SET(atoi(argv[1]), &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		return fail("sched_setaffinity cpu", argv[1]);
	if (atoi(argv[2]) > 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/schedstat", atoi(argv[2]));
		schedstat_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (schedstat_fd < 0)
			return fail("open", path);
	}
	burst_ns = atoll(argv[3]) * 1000LL;
	rounds = atoi(argv[4]);
	njobs = argc - 5;
	for (i = 0; i < njobs; i++)
		if ((rc = setup(&jobs[i], argv[5 + i])) != 0)
			return rc;
	for (r = 0; r <= rounds; r++) {
		for (i = 0; i < njobs; i++) {
			int k = (r + i) % njobs;

			if (burst(&jobs[k], burst_ns, r > 0))
				return fail("sendmmsg, job", argv[5 + k]);
		}
	}
	for (i = 0; i < njobs; i++)
		printf("%lld %lld %lld %lld %lld\n", jobs[i].packets, jobs[i].cpu_ns, jobs[i].wall_ns, jobs[i].total,
		       jobs[i].softirqd_ns);
	return 0;
}
