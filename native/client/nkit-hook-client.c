/* nkit-hook-client: the OCI hook as runtimes run it, without starting Node.
 * It forwards its arguments, a few environment variables and stdin to the
 * warm agent (nkitd) on <runDir>/nkitd.sock, relays the agent's stderr and
 * exits with its code. When the agent is not there (no socket, refused, or
 * no answer in time) it runs the in-process Node hook instead, with the same
 * stdin, and tells it why (NKIT_FALLBACK_REASON) so the log says so.
 *   nkit-hook-client NODE_HOOK_JS [hook arguments...]
 * NODE_HOOK_JS is <root>/dist/hooks/oci-hook.js; when <root>/dist holds a
 * startup snapshot built for this very node binary (oci-hook.snapshot.blob,
 * and .node naming the binary's size and mtime), Node starts from it.
 * The wire format is src/agent/protocol.ts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_IN (1 << 20)

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("nkit-hook-client: out of memory");
			exit(1);
		}
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };
	put(b, x, 4);
}

static void put_field(struct buf *b, const char *s, size_t n)
{
	put_u32(b, (uint32_t)n);
	put(b, s, n);
}

static int read_all(int fd, struct buf *b, size_t max)
{
	char tmp[8192];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		put(b, tmp, (size_t)n);
		if (b->len > max)
			return -1;
	}
}

/* Node's exit code when a startup snapshot does not fit the running V8: a
 * snapshot is bound to the binary and to the CPU features it was built with
 * (one built on the host fails inside a TCG guest with the same binary). Node
 * fails before running any JavaScript, so nothing has been done yet. The
 * hook itself exits 0, 1 or 2 only. */
#define NODE_EXIT_SNAPSHOT 14

/* Runs node from the snapshot as a child and exits with its status, unless
 * the snapshot did not load: then it says so and returns. The child dies
 * with this process (a runtime that kills a hook on timeout kills this one). */
static void run_snapshot(const char *node, char **args, const char *blob)
{
	pid_t parent = getpid(), pid = fork();
	int st;

	if (pid < 0)
		return; /* run without the snapshot */
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		execv(node, args);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("nkit-oci-hook: waitpid");
			exit(1);
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == NODE_EXIT_SNAPSHOT) {
		fprintf(stderr, "nkit-oci-hook: the startup snapshot %s does not fit this node binary or CPU "
				"(built on another machine?); running the hook without it. Rebuild it "
				"(cd %.*s && %s --snapshot-blob oci-hook.snapshot.blob --build-snapshot bundle/oci-hook.js) "
				"or delete %s.node to stop trying it\n",
			blob, (int)(strrchr(blob, '/') - blob), blob, node, blob);
		setenv("NKIT_SNAPSHOT", "unusable", 1);
		return;
	}
	if (WIFSIGNALED(st)) {
		signal(WTERMSIG(st), SIG_DFL);
		raise(WTERMSIG(st));
		exit(128 + WTERMSIG(st));
	}
	exit(WEXITSTATUS(st));
}

/* Runs the Node hook with the stdin we already consumed. */
static void fallback(const char *js, int argc, char **argv, struct buf *in, const char *reason)
{
	const char *nodes[] = { getenv("NKIT_NODE"), "/usr/bin/node", "/usr/local/bin/node" };
	int fd = memfd_create("nkit-hook-stdin", 0);
	char **args = calloc((size_t)argc + 4, sizeof(char *));

	if (fd < 0 || !args || (in->len && write(fd, in->p, in->len) != (ssize_t)in->len) || lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0) {
		perror("nkit-hook-client: cannot pass stdin on");
		exit(1);
	}
	setenv("NKIT_FALLBACK_REASON", reason, 1);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char blob[4096], stamp[64], want[64] = "";
		struct stat st;
		FILE *f;
		int a = 1;

		if (!nodes[i] || !*nodes[i] || access(nodes[i], X_OK) != 0)
			continue;
		args = realloc(args, ((size_t)argc + 5) * sizeof(char *));
		args[0] = (char *)nodes[i];
		/* <root>/dist/hooks/oci-hook.js -> <root>/dist/oci-hook.snapshot.blob */
		snprintf(blob, sizeof(blob), "%s", js);
		for (int up = 0; up < 2; up++) {
			char *s = strrchr(blob, '/');
			if (s)
				*s = 0;
		}
		strncat(blob, "/oci-hook.snapshot.blob", sizeof(blob) - strlen(blob) - 1);
		snprintf(stamp, sizeof(stamp), "%s", "");
		if (stat(nodes[i], &st) == 0)
			snprintf(stamp, sizeof(stamp), "%lld-%lld", (long long)st.st_size, (long long)st.st_mtime);
		{
			char sp[4200];
			snprintf(sp, sizeof(sp), "%s.node", blob);
			f = fopen(sp, "re");
			if (f) {
				if (!fgets(want, sizeof(want), f))
					want[0] = 0;
				fclose(f);
				want[strcspn(want, "\n")] = 0;
			}
		}
		if (*stamp && !strcmp(stamp, want) && access(blob, R_OK) == 0) {
			args[a++] = "--snapshot-blob";
			args[a++] = strdup(blob);
			args[a++] = "--"; /* the hook's own options are not node's */
			for (int k = 0; k < argc; k++)
				args[a + k] = argv[k];
			args[a + argc] = NULL;
			run_snapshot(nodes[i], args, blob);
			/* The snapshot did not load: the same hook without it. */
			a = 1;
			if (lseek(0, 0, SEEK_SET) < 0) {
				perror("nkit-oci-hook: cannot pass stdin on");
				exit(1);
			}
		}
		args[a++] = (char *)js;
		for (int k = 0; k < argc; k++)
			args[a++] = argv[k];
		args[a] = NULL;
		execv(nodes[i], args);
	}
	fprintf(stderr, "nkit-oci-hook: node not found (install nodejs or set NKIT_NODE)\n");
	exit(127);
}

/* The value of "runDir" in a JSON config (a plain scan: nkit's own schema
 * makes it a simple string), or NULL. */
static char *run_dir_of(const char *file)
{
	struct buf b = { 0 };
	/* Non-blocking, and only a regular file: a FIFO must not hang the hook
	 * (Node refuses such a config and says why). */
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *k, *v, *e;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	if (read_all(fd, &b, MAX_IN) < 0) {
		close(fd);
		return NULL;
	}
	close(fd);
	put(&b, "", 1);
	k = strstr(b.p, "\"runDir\"");
	if (!k)
		return NULL;
	v = k + 8;
	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
		v++;
	if (*v++ != ':')
		return NULL;
	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
		v++;
	if (*v++ != '"')
		return NULL;
	e = strchr(v, '"');
	if (!e || memchr(v, '\\', (size_t)(e - v)))
		return NULL;
	*e = 0;
	return strdup(v);
}

static const char *config_path(int argc, char **argv, const char *js)
{
	static char def[4096];
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			return argv[i + 1];
		if (!strncmp(argv[i], "--config=", 9))
			return argv[i] + 9;
	}
	if (getenv("NKIT_CONFIG") && *getenv("NKIT_CONFIG"))
		return getenv("NKIT_CONFIG");
	if (access("/etc/nkit/config.json", R_OK) == 0)
		return "/etc/nkit/config.json";
	/* js is <root>/dist/hooks/oci-hook.js: the built-in config/nkit.json. */
	snprintf(def, sizeof(def), "%s", js);
	for (int up = 0; up < 3; up++) {
		char *s = strrchr(def, '/');
		if (!s)
			return "/etc/nkit/config.json";
		*s = 0;
	}
	strncat(def, "/config/nkit.json", sizeof(def) - strlen(def) - 1);
	return def;
}

int main(int argc, char **argv)
{
	struct buf in = { 0 }, req = { 0 }, resp = { 0 };
	const char *fwd[] = { "NKIT_CONFIG", "NKIT_FAULT" };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char reason[512];
	const char *js;
	char *run_dir;
	int s, nenv = 0, timeout_ms = 60000;
	uint32_t n;

	if (argc < 2) {
		fprintf(stderr, "usage: nkit-hook-client NODE_HOOK_JS [hook arguments...]\n");
		return 2;
	}
	js = argv[1];
	argc -= 2;
	argv += 2;
	if (read_all(0, &in, MAX_IN) < 0) {
		fprintf(stderr, "nkit-oci-hook: cannot read the OCI state on stdin (or it is larger than 1 MiB)\n");
		return 1;
	}
	if (getenv("NKIT_NO_AGENT"))
		fallback(js, argc, argv, &in, "NKIT_NO_AGENT is set");
	if (getenv("NKIT_AGENT_TIMEOUT_MS"))
		timeout_ms = atoi(getenv("NKIT_AGENT_TIMEOUT_MS"));
	run_dir = run_dir_of(config_path(argc, argv, js));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/nkitd.sock", run_dir ? run_dir : "/run/nkit");
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(reason, sizeof(reason), "agent socket %s: %s", sa.sun_path, strerror(errno));
		fallback(js, argc, argv, &in, reason);
	}
	put(&req, "NKH1", 4);
	put_u32(&req, (uint32_t)argc + 1);
	put_field(&req, "nkit-oci-hook", 13);
	for (int i = 0; i < argc; i++)
		put_field(&req, argv[i], strlen(argv[i]));
	for (size_t i = 0; i < 2; i++)
		nenv += getenv(fwd[i]) != NULL;
	put_u32(&req, (uint32_t)nenv);
	for (size_t i = 0; i < 2; i++) {
		char kv[4096];
		if (!getenv(fwd[i]))
			continue;
		snprintf(kv, sizeof(kv), "%s=%s", fwd[i], getenv(fwd[i]));
		put_field(&req, kv, strlen(kv));
	}
	put_field(&req, in.p ? in.p : "", in.len);
	for (size_t off = 0; off < req.len;) {
		ssize_t w = write(s, req.p + off, req.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(reason, sizeof(reason), "agent socket %s: write: %s", sa.sun_path, strerror(errno));
			fallback(js, argc, argv, &in, reason);
		}
		off += (size_t)w;
	}
	shutdown(s, SHUT_WR);
	for (;;) {
		struct pollfd p = { s, POLLIN, 0 };
		char tmp[8192];
		ssize_t r;
		int pr = poll(&p, 1, timeout_ms);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			snprintf(reason, sizeof(reason), "agent on %s gave no answer within %d ms", sa.sun_path, timeout_ms);
			fallback(js, argc, argv, &in, reason);
		}
		r = read(s, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		put(&resp, tmp, (size_t)r);
	}
	if (resp.len < 12 || memcmp(resp.p, "NKR1", 4) != 0) {
		snprintf(reason, sizeof(reason), "agent on %s closed without an answer", sa.sun_path);
		fallback(js, argc, argv, &in, reason);
	}
	n = ((uint32_t)(unsigned char)resp.p[8] << 24) | ((uint32_t)(unsigned char)resp.p[9] << 16) |
	    ((uint32_t)(unsigned char)resp.p[10] << 8) | (uint32_t)(unsigned char)resp.p[11];
	if (n > resp.len - 12)
		n = (uint32_t)(resp.len - 12);
	if (n && write(2, resp.p + 12, n) < 0) {
		/* nothing more to say */
	}
	return (int)(int32_t)(((uint32_t)(unsigned char)resp.p[4] << 24) | ((uint32_t)(unsigned char)resp.p[5] << 16) |
			      ((uint32_t)(unsigned char)resp.p[6] << 8) | (uint32_t)(unsigned char)resp.p[7]);
}
