/* bpfpoke: what a process can do to BPF objects from where it runs. Used
 * inside containers by the isolation tests: it tries to list pins, open a
 * pinned link, walk link and program ids and detach a link, and prints one
 * line per attempt with the errno it got. Built static, so it runs in a
 * busybox rootfs. Usage: bpfpoke PIN_DIR LINK_ID (only that link is
 * touched, so a broken confinement cannot hit anyone else's). */
#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static void report(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno) /* e.g. "Operation not permitted" */);
	else
		printf("%s: OK (%ld)\n", what, r);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/sys/fs/bpf";
	char path[512];
	union bpf_attr a;
	DIR *d = opendir(dir);

	if (!d) {
		printf("list %s: %s\n", dir, strerror(errno));
	} else {
		int n = 0;
		while (readdir(d))
			n++;
		printf("list %s: OK (%d entries)\n", dir, n);
		closedir(d);
	}
	snprintf(path, sizeof(path), "%s/link_egress", dir);
	memset(&a, 0, sizeof(a));
	a.pathname = (unsigned long)path;
	report("obj_get link_egress", sys_bpf(BPF_OBJ_GET, &a));

	memset(&a, 0, sizeof(a));
	report("link_get_next_id", sys_bpf(BPF_LINK_GET_NEXT_ID, &a));
	memset(&a, 0, sizeof(a));
	report("prog_get_next_id", sys_bpf(BPF_PROG_GET_NEXT_ID, &a));
	memset(&a, 0, sizeof(a));
	a.link_id = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
	long fd = sys_bpf(BPF_LINK_GET_FD_BY_ID, &a);
	report("link_get_fd_by_id", fd);
	if (fd >= 0) {
		memset(&a, 0, sizeof(a));
		a.link_detach.link_fd = fd;
		report("link_detach", sys_bpf(BPF_LINK_DETACH, &a));
	}
	return 0;
}
