/* tcpbench: the three TCP tests of the datapath benchmark (bench/datapath.ts),
 * in the manner of netperf's TCP_STREAM, TCP_RR and TCP_CRR.
 *   tcpbench server ADDR PORT LIFETIME_S
 *       accepts until LIFETIME_S have passed (it always stops by itself);
 *       per connection the first byte says what to do: 'S' read and discard,
 *       'E' echo every byte back.
 *   tcpbench stream ADDR PORT SECONDS   one connection, 128 KiB writes
 *   tcpbench rr     ADDR PORT SECONDS   one connection, 1-byte request/response
 *   tcpbench crr    ADDR PORT SECONDS   per transaction: connect, 1 byte each
 *                                       way, close (SO_LINGER 0: RST, so no
 *                                       TIME_WAIT exhausts the ports)
 * A client prints "OPS SECONDS": bytes, transactions or connections, and the
 * measured time (after a 10% warm-up that is not counted). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CHUNK (128 * 1024)
#define MAX_CONNS 4096

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "tcpbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in addr_of(const char *a, const char *p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(p)) };
	if (inet_pton(AF_INET, a, &sa.sin_addr) != 1) {
		fprintf(stderr, "tcpbench: bad address %s\n", a);
		exit(2);
	}
	return sa;
}

static int serve(struct sockaddr_in sa, double lifetime)
{
	static char buf[STREAM_CHUNK];
	static char mode[MAX_CONNS];
	struct epoll_event ev, evs[64];
	int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	double end = now() + lifetime;

	if (ls < 0 || ep < 0)
		die("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(ls, 1024) < 0)
		die("listen");
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	printf("ready\n");
	fflush(stdout);
	while (now() < end) {
		int n = epoll_wait(ep, evs, 64, 200);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				int c;
				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (c >= MAX_CONNS) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					mode[c] = 0;
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					close(fd);
					break;
				}
				if (r < 0)
					break;
				char *p = buf;
				if (!mode[fd]) {
					mode[fd] = buf[0];
					p++;
					r--;
				}
				if (mode[fd] == 'E' && r > 0 && write(fd, p, (size_t)r) < 0 && errno != EAGAIN) {
					close(fd);
					break;
				}
			}
		}
	}
	return 0;
}

static int dial(struct sockaddr_in sa, char mode, int linger0)
{
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket");
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (linger0) {
		struct linger l = { 1, 0 };
		setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	if (write(s, &mode, 1) != 1)
		die("write");
	return s;
}

static void xchg(int s)
{
	char c = 'x';
	if (write(s, &c, 1) != 1)
		die("write");
	for (;;) {
		ssize_t r = read(s, &c, 1);
		if (r == 1)
			return;
		if (r < 0 && errno == EINTR)
			continue;
		errno = r == 0 ? ECONNRESET : errno;
		die("read");
	}
}

int main(int argc, char **argv)
{
	static char buf[STREAM_CHUNK];
	double secs, t0, t1, start, stop;
	unsigned long long ops = 0;
	struct sockaddr_in sa;
	int s = -1;

	signal(SIGPIPE, SIG_IGN);
	if (argc != 5) {
		fprintf(stderr, "usage: tcpbench server|stream|rr|crr ADDR PORT SECONDS\n");
		return 2;
	}
	sa = addr_of(argv[2], argv[3]);
	secs = atof(argv[4]);
	if (!strcmp(argv[1], "server"))
		return serve(sa, secs);
	memset(buf, 'd', sizeof(buf));
	if (!strcmp(argv[1], "stream") || !strcmp(argv[1], "rr"))
		s = dial(sa, argv[1][0] == 's' ? 'S' : 'E', 0);
	t0 = now();
	start = t0 + secs * 0.1;
	stop = t0 + secs * 1.1;
	t1 = 0;
	for (;;) {
		double t = now();
		if (t >= start && t1 == 0) {
			t1 = t;
			ops = 0;
		}
		if (t >= stop)
			break;
		for (int i = 0; i < 16; i++) {
			if (argv[1][0] == 's') {
				ssize_t w = write(s, buf, sizeof(buf));
				if (w < 0 && errno != EINTR)
					die("write");
				ops += w > 0 ? (unsigned long long)w : 0;
			} else if (!strcmp(argv[1], "rr")) {
				xchg(s);
				ops++;
			} else {
				int c = dial(sa, 'E', 1);
				xchg(c);
				close(c);
				ops++;
			}
		}
	}
	printf("%llu %.6f\n", ops, now() - t1);
	if (s >= 0)
		close(s);
	return 0;
}
