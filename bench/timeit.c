/* timeit: runs one command and prints what it cost, for the lifecycle
 * benchmark (bench/lifecycle.ts). The clock starts right before fork and
 * stops when wait4 returns, so the timing covers exec, the command's own
 * start and its exit, and nothing of the Node process that asked.
 *   timeit CMD [ARGS...]
 * stdin, stdout, stderr and the environment are passed on unchanged. Prints
 * one line on fd 3 when it is open, else on stderr:
 *   wall_ns max_rss_kb user_us sys_us status
 * max_rss_kb is wait4's ru_maxrss: the peak RSS of the child, or of the
 * largest of its descendants it waited for, across exec (sh -> client -> node
 * is one process). status is the exit code, or 128 + signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int status, out, code;
	long long t0, t1;
	pid_t pid;
	FILE *f;

	if (argc < 2) {
		fprintf(stderr, "usage: timeit CMD [ARGS...]\n");
		return 2;
	}
	out = fcntl(3, F_GETFD) >= 0 ? 3 : 2;
	if (out == 3)
		fcntl(3, F_SETFD, FD_CLOEXEC);
	t0 = now_ns();
	pid = fork();
	if (pid < 0) {
		perror("timeit: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "timeit: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("timeit: wait4");
			return 2;
		}
	}
	t1 = now_ns();
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	f = fdopen(out, "w");
	if (!f)
		return 2;
	fprintf(f, "%lld %ld %lld %lld %d\n", t1 - t0, ru.ru_maxrss, (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, code);
	fclose(f);
	return 0;
}
