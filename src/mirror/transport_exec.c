/*
 * transport_exec.c - the local-command transport (url = exec:/ABS/PATH):
 * the table transport_exec_ops of transport_ops.h. The only file that
 * starts a process (posix_spawn); it must not know the queue, backoff or
 * parking (worker.c decides what a failed run means) nor any protocol.
 *
 * Each delivery is one run of the program: argv is the program's path and
 * the target's args (execargs.h: %p %u %s expanded, each value one argv
 * entry, never split and never seen by a shell); the environment is built
 * from nothing (PATH=/usr/bin:/bin and the RELAYFTPD_* variables of the
 * job, transport_set_job), so nothing of the daemon's leaks in. The child
 * starts in a session, hence a process group, of its own (POSIX_SPAWN_
 * SETSID), with stdin on /dev/null, stdout and stderr on one pipe, a put's
 * file open read-only on descriptor 3 (RELAYFTPD_FD), every
 * other descriptor closed (closefrom besides O_CLOEXEC, since another
 * thread may open one without it at that moment), default signal
 * dispositions and an empty mask, in "/", as the user the daemon runs as
 * (run_as: it dropped root before any worker started).
 *
 * Exit status 0 is delivered. Anything else, or the timeout, is a failed
 * attempt: at the timeout the whole group gets SIGTERM, then SIGKILL after
 * RFTP_EXEC_KILL_GRACE_MS. When the program itself exits, what it left in
 * its group is killed (SIGKILL) before it is reaped: the zombie keeps the
 * group id reserved, so the kill cannot reach another group, and no run
 * leaves processes behind. The pipe is drained the whole time (a chatty
 * command never blocks on it); the first RFTP_EXEC_OUTPUT_KEEP bytes are
 * logged, the rest counted and dropped, so memory stays bounded whatever
 * it prints.
 *
 * Events: put runs with RELAYFTPD_EVENT=put; delete and rename (when the
 * target propagates them) run with delete and rename. mkdir, rmdir and a
 * time change are delivered without a run (a command is told about files,
 * not folders or times); verify, publish and discard have nothing to do
 * (a run is the whole delivery); list cannot work (no tree to list).
 */
#include "mirror/logpath.h"
#include "mirror/transport_ops.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/execargs.h"
#include "common/hash.h"
#include "common/json.h" /* utf8_seq */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Held shared by each posix_spawn, from before its clone until the child
 * has run exec (glibc's posix_spawn returns only then): meanwhile the
 * child holds a copy of every descriptor of the daemon, closed only by
 * closefrom and exec, a session's upload still being written among them.
 * A worker that asked the kernel whether the file it was about to push
 * had a writer then (a read lease) was told yes, and the push of a file
 * its client had finished failed with "another program has it open for
 * writing" (found by a soak with an exec target: 10 to 17 of 400 small
 * uploads). Writers (transport_spawns_hold) go first, so that a busy
 * exec target cannot hold such a check off.
 */
static pthread_rwlock_t spawning =
    PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

void
transport_spawns_hold(void)
{
	pthread_rwlock_wrlock(&spawning);
}

void
transport_spawns_release(void)
{
	pthread_rwlock_unlock(&spawning);
}

struct exec_tp {
	const struct target_config *t;
	const atomic_int *stop;
	const char *prog;         /* the url after "exec:" */
	struct transport_job job; /* the job whose calls follow */
	int have_job;
};

/* What one run is told (its environment and placeholders); NULL is "". */
struct exec_event {
	const char *event;
	const char *path;     /* in the user's home */
	const char *old_path; /* rename: the old path */
	const char *file;     /* absolute local path */
	const char *size;
	const char *sha256;
	/* put: fd, open on the file the daemon read, is the command's
	 * descriptor 3 (RELAYFTPD_FD): RELAYFTPD_FILE is a name, which a
	 * program that may write into the home can point elsewhere (a
	 * symbolic link to a file the command may read) between the
	 * daemon's look and the command's open (found from outside). */
	int has_fd;
	int fd;
};

/* NULL-terminated string arrays for argv and envp. */
#define STRVEC_MAX (EXECARGS_MAX + 2)

struct strvec {
	char *v[STRVEC_MAX + 1];
	size_t n;
};

/* What a run printed: its first bytes, and how many in all. */
struct output {
	char keep[RFTP_EXEC_OUTPUT_KEEP];
	size_t kept;
	uint64_t total;
};

/* How a run ended. */
struct run_end {
	int status;    /* waitpid's */
	int timed_out; /* killed at the timeout */
	int stopped;   /* killed because the daemon stops */
	int lost;      /* reaped by someone else: no status */
};

static int
exec_global_init(void)
{
	return 0;
}

static void
exec_global_cleanup(void)
{
}

/*
 * A program that embeds the library and ignores SIGCHLD (SIG_IGN, or
 * SA_NOCLDWAIT) has the kernel reap every child at once: no run's exit
 * status can be read, and every push fails (found from outside). The
 * library changes no signal's disposition, so it says so, once, as soon
 * as a command target opens. A handler that waits for every child
 * (waitpid(-1, ...)) takes some statuses the same way; that cannot be
 * seen from here, and each such run's failure says it.
 */
static void
warn_sigchld_ignored(void)
{
	static atomic_int warned;
	struct sigaction sa;

	if (sigaction(SIGCHLD, NULL, &sa) < 0 ||
	    (sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_NOCLDWAIT)) ||
	    atomic_exchange(&warned, 1))
		return;
	log_err("mirror: the program ignores SIGCHLD (SIG_IGN or "
	        "SA_NOCLDWAIT), so the exit status of an exec: target's "
	        "command is lost and every run fails: leave SIGCHLD at its "
	        "default, or handle it without reaping every child");
}

static void *
exec_open(const struct target_config *t, const atomic_int *stop)
{
	struct exec_tp *tp;

	/* config_target.c accepts only exec:/ABSOLUTE/PATH. */
	if (strncmp(t->url, "exec:/", 6) != 0)
		return NULL;
	warn_sigchld_ignored();
	tp = calloc(1, sizeof(*tp));
	if (tp == NULL)
		return NULL;
	tp->t = t;
	tp->stop = stop;
	tp->prog = t->url + 5;
	return tp;
}

static void
exec_close(void *impl, int quick)
{
	(void)quick; /* nothing to say goodbye to */
	free(impl);
}

static void
exec_on_progress(void *impl, transport_progress_fn fn, void *ctx)
{
	/* A run has no bytes in flight to show. */
	(void)impl;
	(void)fn;
	(void)ctx;
}

static void
exec_set_job(void *impl, const struct transport_job *job)
{
	struct exec_tp *tp = impl;

	tp->job = *job;
	tp->have_job = 1;
}

/* Appends a copy of s (len bytes) to sv; -1 when full or out of memory. */
static int
strvec_add(struct strvec *sv, const char *s, size_t len)
{
	char *c;

	if (sv->n >= STRVEC_MAX || (c = malloc(len + 1)) == NULL)
		return -1;
	memcpy(c, s, len);
	c[len] = '\0';
	sv->v[sv->n++] = c;
	sv->v[sv->n] = NULL;
	return 0;
}

static void
strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	sv->n = 0;
	sv->v[0] = NULL;
}

/* "NAME=value" into sv. */
static int
env_add(struct strvec *sv, const char *name, const char *value)
{
	struct buf b;
	int rc;

	buf_init(&b, strlen(name) + strlen(value != NULL ? value : "") + 2);
	rc = buf_printf(&b, "%s=%s", name, value != NULL ? value : "");
	if (rc == 0)
		rc = strvec_add(sv, buf_str(&b), b.len);
	buf_free(&b);
	return rc;
}

struct argv_ctx {
	struct strvec *argv;
	const struct execargs_values *vals;
	struct buf out;
	int too_long; /* an item expanded past EXECARGS_ITEM_MAX */
};

static int
argv_item(void *ctx, const char *item, size_t len, const char **why)
{
	struct argv_ctx *a = ctx;

	buf_reset(&a->out);
	if (execargs_expand(item, len, a->vals, &a->out, why) < 0) {
		/* `check` expanded each item with sample values: the only
		 * failure left is a value too long for it. */
		a->too_long = 1;
		return -1;
	}
	if (strvec_add(a->argv, buf_str(&a->out), a->out.len) < 0) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

/* argv: the program, then the args list expanded for ev. */
static int
build_argv(const struct exec_tp *tp, const struct exec_event *ev,
    struct strvec *argv, struct push_result *res)
{
	const struct execargs_values vals = { ev->path, tp->job.user,
		ev->size };
	struct argv_ctx a = { argv, &vals, { NULL, 0, 0, 0 }, 0 };
	struct buf scratch;
	const char *why = NULL;
	int rc;

	if (strvec_add(argv, tp->prog, strlen(tp->prog)) < 0) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	buf_init(&scratch, EXECARGS_ITEM_MAX);
	buf_init(&a.out, EXECARGS_ITEM_MAX);
	rc = execargs_split(tp->t->args, &scratch, argv_item, &a, &why);
	buf_free(&scratch);
	buf_free(&a.out);
	if (rc < 0) {
		snprintf(res->error, sizeof(res->error), "args: %s", why);
		/* `check` proved the list itself; an item that grows past
		 * EXECARGS_ITEM_MAX only with this event's long path (two
		 * %p in one item) is this event's: it waits alone, as an
		 * exit 65, instead of pausing the target's other events
		 * at each of its retries. */
		res->file_refused = a.too_long;
	}
	return rc;
}

/* The environment of a run, and nothing else. */
static int
build_env(const struct exec_tp *tp, const struct exec_event *ev,
    struct strvec *env, struct push_result *res)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)tp->job.id);
	if (env_add(env, "PATH", "/usr/bin:/bin") < 0 ||
	    env_add(env, "RELAYFTPD_EVENT", ev->event) < 0 ||
	    env_add(env, "RELAYFTPD_EVENT_ID", id) < 0 ||
	    env_add(env, "RELAYFTPD_USER", tp->job.user) < 0 ||
	    env_add(env, "RELAYFTPD_PATH", ev->path) < 0 ||
	    env_add(env, "RELAYFTPD_FILE", ev->file) < 0 ||
	    env_add(env, "RELAYFTPD_OLD_PATH", ev->old_path) < 0 ||
	    env_add(env, "RELAYFTPD_SIZE", ev->size) < 0 ||
	    env_add(env, "RELAYFTPD_SHA256", ev->sha256) < 0 ||
	    env_add(env, "RELAYFTPD_FD", ev->has_fd ? "3" : "") < 0) {
		snprintf(res->error, sizeof(res->error),
		    "out of memory building the environment");
		return -1;
	}
	return 0;
}

/* Starts the program: *pid, and *rfd the read end of its output pipe;
 * ev's file, if it has one, on its descriptor 3. */
static int
spawn(const struct exec_tp *tp, const struct exec_event *ev, char *const argv[],
    char *const envp[], pid_t *pid, int *rfd, struct push_result *res)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int pfd[2], err;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(res->error, sizeof(res->error), "pipe: %s",
		    strerror(errno));
		return -1;
	}
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	err = posix_spawn_file_actions_init(&fa);
	if (err == 0) {
		err = posix_spawnattr_init(&attr);
		if (err != 0)
			posix_spawn_file_actions_destroy(&fa);
	}
	if (err == 0) {
		/* Each step can only fail for want of memory: the first
		 * error stops the rest, and posix_spawn is not tried. */
		err = posix_spawnattr_setflags(&attr,
		    POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
		        POSIX_SPAWN_SETSIGDEF);
		if (err == 0)
			err = posix_spawnattr_setsigmask(&attr, &none);
		if (err == 0)
			err = posix_spawnattr_setsigdefault(&attr, &all);
		if (err == 0)
			err = posix_spawn_file_actions_addopen(
			    &fa, 0, "/dev/null", O_RDONLY, 0);
		if (err == 0)
			err = posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
		if (err == 0)
			err = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
		/* The command reads it from its start, whatever read it
		 * here before: the offset is shared with its copy. */
		if (err == 0 && ev->has_fd) {
			if (lseek(ev->fd, 0, SEEK_SET) < 0)
				err = errno;
			else
				err = posix_spawn_file_actions_adddup2(
				    &fa, ev->fd, 3);
		}
		if (err == 0)
			err = posix_spawn_file_actions_addchdir_np(&fa, "/");
		if (err == 0)
			err = posix_spawn_file_actions_addclosefrom_np(
			    &fa, ev->has_fd ? 4 : 3);
		if (err == 0) {
			pthread_rwlock_rdlock(&spawning);
			err =
			    posix_spawn(pid, tp->prog, &fa, &attr, argv, envp);
			pthread_rwlock_unlock(&spawning);
		}
		posix_spawnattr_destroy(&attr);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(pfd[1]);
	if (err != 0) {
		close(pfd[0]);
		snprintf(res->error, sizeof(res->error),
		    "cannot run %.300s: %s", tp->prog, strerror(err));
		return -1;
	}
	*rfd = pfd[0];
	return 0;
}

/* Reads what is in the pipe now; 1 at its end (or an error), else 0. */
static int
drain(int rfd, struct output *out)
{
	char chunk[16384];
	ssize_t n = read(rfd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (n == 0)
		return 1;
	if (out->kept < sizeof(out->keep)) {
		size_t take = sizeof(out->keep) - out->kept;

		if (take > (size_t)n)
			take = (size_t)n;
		memcpy(out->keep + out->kept, chunk, take);
		out->kept += take;
	}
	out->total += (uint64_t)n;
	return 0;
}

/*
 * Waits for pid while draining rfd into out: kills its group at the
 * timeout or when the daemon stops (SIGTERM, SIGKILL after the grace),
 * and what is left of the group when it exits; reaps it. Every wait is a
 * poll of at most 50 ms, so each deadline is met within that.
 */
static void
wait_run(const struct exec_tp *tp, pid_t pid, int rfd, struct output *out,
    struct run_end *end)
{
	int64_t deadline =
	    (int64_t)clock_mono_ms() + (int64_t)tp->t->timeout * 1000;
	int64_t term_at = -1, exited_at = -1;
	int eof = 0, killed = 0;

	for (;;) {
		int64_t now = (int64_t)clock_mono_ms();
		struct pollfd p = { rfd, POLLIN, 0 };

		if (exited_at < 0) {
			siginfo_t si;
			int w;

			memset(&si, 0, sizeof(si));
			/* WNOWAIT: the zombie keeps pid, and so the group
			 * id, reserved until the group is killed. */
			w = waitid(
			    P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
			if (w == 0 && si.si_pid == pid) {
				(void)kill(-pid, SIGKILL);
				while (waitpid(pid, &end->status, 0) < 0 &&
				    errno == EINTR)
					;
				exited_at = now;
			} else if (w < 0 && errno == ECHILD) {
				/* Reaped elsewhere (SIGCHLD ignored): its
				 * status is lost, so the run failed. */
				end->lost = 1;
				exited_at = now;
			}
		}
		/* A process that left the group (setsid) may hold the pipe
		 * open: after the grace its output is not waited for. */
		if (exited_at >= 0 &&
		    (eof || now - exited_at >= RFTP_EXEC_KILL_GRACE_MS))
			return;
		if (exited_at < 0 && term_at < 0 &&
		    (now >= deadline || atomic_load(tp->stop))) {
			end->timed_out = now >= deadline;
			end->stopped = !end->timed_out;
			(void)kill(-pid, SIGTERM);
			term_at = now;
		} else if (exited_at < 0 && term_at >= 0 && !killed &&
		    now - term_at >= RFTP_EXEC_KILL_GRACE_MS) {
			(void)kill(-pid, SIGKILL);
			killed = 1;
		}
		if (eof) {
			(void)poll(NULL, 0, 20);
			continue;
		}
		if (poll(&p, 1, 50) > 0)
			eof = drain(rfd, out);
	}
}

/* text[0..len) with bytes a log must not carry written as \xNN: control
 * bytes, '\\', and bytes that are not part of valid UTF-8 (a program's
 * Latin-1 output, a character cut by the length kept), so that the line
 * stays text. 0, or -1 when out filled up first (what fitted is kept). */
static int
escape(const char *text, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		size_t k = c >= 0x80 ?
		    utf8_seq((const unsigned char *)text + i, len - i) :
		    1;
		int r;

		if (c < 0x20 || c == 0x7f || c == '\\' || k == 0)
			r = buf_printf(out, "\\x%02x", c);
		else
			r = buf_add(out, &text[i], k);
		if (r < 0)
			return -1;
		if (k > 1)
			i += k - 1;
	}
	return 0;
}

/* Logs the kept output a line at a time, and what was dropped. */
static void
log_output(
    const struct exec_tp *tp, enum log_level level, const struct output *out)
{
	size_t i = 0;
	struct buf line;
	int cut;

	buf_init(&line, 1500);
	while (i < out->kept) {
		const char *nl = memchr(out->keep + i, '\n', out->kept - i);
		size_t n =
		    nl != NULL ? (size_t)(nl - out->keep) - i : out->kept - i;

		buf_reset(&line);
		cut = escape(out->keep + i, n, &line) < 0;
		log_msg(level, "mirror exec target=%s output: %s%s",
		    tp->t->name, buf_str(&line), cut ? " [line cut]" : "");
		i += n + (nl != NULL);
	}
	buf_free(&line);
	if (out->total > out->kept)
		log_msg(level,
		    "mirror exec target=%s output: %llu more bytes dropped "
		    "(the first %zu are logged)",
		    tp->t->name, (unsigned long long)(out->total - out->kept),
		    out->kept);
}

/* The first line of the output, escaped and short, for res->error. */
static void
first_line(const struct output *out, struct buf *b)
{
	const char *nl = memchr(out->keep, '\n', out->kept);
	size_t n = nl != NULL ? (size_t)(nl - out->keep) : out->kept;

	if (n > 120)
		n = 120;
	(void)escape(out->keep, n, b);
}

/* Runs the program for ev: 0 if it exited with status 0, else -1 with
 * res->error. */
static int
run(struct exec_tp *tp, const struct exec_event *ev, struct push_result *res)
{
	struct strvec argv, env;
	struct run_end end = { 0, 0, 0, 0 };
	struct output *out = NULL;
	struct buf line;
	pid_t pid = -1;
	int rfd = -1, rc = -1;
	int64_t t0 = (int64_t)clock_mono_ms();
	char how[160];

	argv.n = env.n = 0;
	argv.v[0] = env.v[0] = NULL;
	buf_init(&line, 400);
	out = calloc(1, sizeof(*out));
	if (out == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto done;
	}
	if (build_argv(tp, ev, &argv, res) < 0 ||
	    build_env(tp, ev, &env, res) < 0 ||
	    spawn(tp, ev, argv.v, env.v, &pid, &rfd, res) < 0)
		goto done;
	wait_run(tp, pid, rfd, out, &end);
	close(rfd);
	if (end.timed_out)
		snprintf(how, sizeof(how), "timed out after %llus",
		    (unsigned long long)tp->t->timeout);
	else if (end.stopped)
		snprintf(how, sizeof(how), "stopped with the daemon");
	else if (end.lost)
		snprintf(how, sizeof(how),
		    "ended with an unknown status (reaped elsewhere in "
		    "the program: SIGCHLD ignored, or a handler that waits "
		    "for every child)");
	else if (WIFEXITED(end.status))
		snprintf(how, sizeof(how), "exit=%d", WEXITSTATUS(end.status));
	else if (WIFSIGNALED(end.status))
		snprintf(how, sizeof(how), "killed by signal %d",
		    WTERMSIG(end.status));
	else
		snprintf(how, sizeof(how), "status %d", end.status);
	rc = !end.timed_out && !end.stopped && !end.lost &&
	        WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0 ?
	    0 :
	    -1;
	log_msg(rc == 0 ? LOG_INFO : LOG_WARN,
	    "mirror exec target=%s event=%s path=%s %s duration=%.3fs "
	    "output=%llu bytes",
	    tp->t->name, ev->event, LOGPATH(tp->job.user, ev->path), how,
	    (double)((int64_t)clock_mono_ms() - t0) / 1000.0,
	    (unsigned long long)out->total);
	log_output(tp, rc == 0 ? LOG_INFO : LOG_WARN, out);
	/* Exit status 65 (EX_DATAERR) refuses this event alone: the worker
	 * retries it on its own while the others go on. Any other failure
	 * (a forwarding command whose host is down exits 1) is the
	 * target's, as before. */
	res->file_refused = rc < 0 && !end.timed_out && !end.stopped &&
	    !end.lost && WIFEXITED(end.status) &&
	    WEXITSTATUS(end.status) == RFTP_EXEC_EXIT_REFUSED;
	if (rc < 0) {
		first_line(out, &line);
		snprintf(res->error, sizeof(res->error), "command %s%s%s%s",
		    how, end.timed_out ? " (its process group was killed)" : "",
		    line.len > 0 ? ": " : "", buf_str(&line));
	}
done:
	buf_free(&line);
	free(out);
	strvec_free(&argv);
	strvec_free(&env);
	return rc;
}

/* The job given by transport_set_job, or -1 with res->error. */
static int
need_job(const struct exec_tp *tp, struct push_result *res)
{
	if (tp->have_job)
		return 0;
	snprintf(res->error, sizeof(res->error),
	    "internal error: exec: target called without a job");
	return -1;
}

/*
 * The longest absolute local path a run is told (RELAYFTPD_FILE): a home
 * of up to PATH_MAX bytes and a path in it of up to RFTP_PATH_MAX. Their
 * sum may pass PATH_MAX, which only a call given the whole name refuses;
 * an environment variable holds it as is (a 4,081-byte path in a home of
 * 35 bytes was told as "", as for a deleted file: found from outside).
 */
#define LOCAL_PATH_MAX (PATH_MAX + RFTP_PATH_MAX)

/* home + path into out; -1 if too long. */
static int
local_path(const struct exec_tp *tp, const char *path, char *out, size_t len)
{
	return fmt_fixed(out, len, "%s%s", tp->job.home, path);
}

/* stat of path (from "/") in the job's home, by a descriptor of the home,
 * so that home + path longer than PATH_MAX is still looked up. */
static int
stat_in_home(const struct exec_tp *tp, const char *path, struct stat *st)
{
	int dfd = open(tp->job.home, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int rc, err;

	if (dfd < 0)
		return -1;
	while (*path == '/')
		path++;
	rc = fstatat(dfd, *path != '\0' ? path : ".", st, 0);
	err = errno;
	close(dfd);
	errno = err;
	return rc;
}

/*
 * The file's absolute path for RELAYFTPD_FILE: home + path when that is
 * still the file fd reads; else (renamed since the job was queued: the
 * worker opened it under its newer name) where fd's file is now.
 */
static void
file_of_fd(
    const struct exec_tp *tp, int fd, const char *path, char *out, size_t len)
{
	struct stat a, b;
	char link[64];
	ssize_t n;

	if (local_path(tp, path, out, len) == 0 &&
	    stat_in_home(tp, path, &a) == 0 && fstat(fd, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return;
	/* Deleted since it was opened: no name holds it any more, and
	 * /proc would give "PATH (deleted)", a name another file of the
	 * home may have. Empty, as a variable that does not apply. */
	if (fstat(fd, &b) == 0 && b.st_nlink == 0) {
		out[0] = '\0';
		return;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	/* A name longer than a page is refused by /proc (ENAMETOOLONG);
	 * one that filled out may be cut: neither is used. */
	n = readlink(link, out, len - 1);
	if (n > 0 && (size_t)n < len - 1 && out[0] == '/') {
		out[n] = '\0';
		return;
	}
	(void)local_path(tp, path, out, len);
}

static int
exec_put(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	struct exec_tp *tp = impl;
	char file[LOCAL_PATH_MAX], sz[24], sha[HASH_HEX_MAX];
	struct exec_event ev;

	(void)rpath;
	(void)tag;
	if (need_job(tp, res) < 0)
		return -1;
	if (hash_fd(fd, HASH_SHA256, 0, size, tp->stop, sha) < 0) {
		snprintf(res->error, sizeof(res->error),
		    errno == ECANCELED ?
		        "stopping (%s)" :
		        "cannot read the file for its SHA-256: %s",
		    errno == ECANCELED ? "the daemon stops" : strerror(errno));
		return -1;
	}
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	memset(&ev, 0, sizeof(ev));
	ev.event = "put";
	/* A rename's repair pushes the new name. */
	ev.path = tp->job.new_path != NULL ? tp->job.new_path : tp->job.path;
	file_of_fd(tp, fd, ev.path, file, sizeof(file));
	ev.file = file;
	ev.size = sz;
	ev.sha256 = sha;
	ev.has_fd = 1;
	ev.fd = fd;
	return run(tp, &ev, res);
}

static int
exec_verify(void *impl, int fd, uint64_t size, const char *rpath, int64_t tag,
    struct push_result *res)
{
	/* Exit status 0 is the receiver's word that it has the file. */
	(void)impl;
	(void)fd;
	(void)size;
	(void)rpath;
	(void)tag;
	res->verify_used = "none";
	return 0;
}

static int
exec_publish(
    void *impl, const char *rpath, int64_t tag, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	(void)tag;
	(void)res;
	return 0;
}

static int
exec_discard(void *impl, const char *rpath, int64_t tag)
{
	/* No temporary copy exists anywhere. */
	(void)impl;
	(void)rpath;
	(void)tag;
	return 0;
}

static int
exec_remove(void *impl, const char *rpath, struct push_result *res)
{
	struct exec_tp *tp = impl;
	char file[LOCAL_PATH_MAX];
	struct exec_event ev;

	(void)rpath;
	if (need_job(tp, res) < 0)
		return -1;
	memset(&ev, 0, sizeof(ev));
	ev.event = "delete";
	ev.path = tp->job.path;
	if (local_path(tp, ev.path, file, sizeof(file)) < 0)
		file[0] = '\0';
	ev.file = file;
	return run(tp, &ev, res);
}

static int
exec_rename(
    void *impl, const char *from, const char *to, struct push_result *res)
{
	struct exec_tp *tp = impl;
	char file[LOCAL_PATH_MAX];
	struct exec_event ev;

	(void)from;
	(void)to;
	if (need_job(tp, res) < 0)
		return -1;
	if (tp->job.new_path == NULL) {
		snprintf(res->error, sizeof(res->error),
		    "internal error: a rename without a new path");
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.event = "rename";
	ev.path = tp->job.new_path;
	ev.old_path = tp->job.path;
	if (local_path(tp, ev.path, file, sizeof(file)) < 0)
		file[0] = '\0';
	ev.file = file;
	return run(tp, &ev, res);
}

static int
exec_list(void *impl, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, struct push_result *res)
{
	struct exec_tp *tp = impl;

	(void)rdir;
	(void)fn;
	(void)ctx;
	snprintf(res->error, sizeof(res->error),
	    "cannot list: [target:%s] runs a command and keeps no tree (its "
	    "catch-up is the queue's)",
	    tp->t->name);
	return -1;
}

static int
exec_mkdir(void *impl, const char *rpath, struct push_result *res)
{
	/* Folders are not events of a command target: delivered. */
	(void)impl;
	(void)rpath;
	(void)res;
	return 0;
}

static int
exec_rmdir(void *impl, const char *rpath, struct push_result *res)
{
	(void)impl;
	(void)rpath;
	(void)res;
	return 0;
}

static enum time_result
exec_set_time(
    void *impl, const char *rpath, time_t mtime, struct push_result *res)
{
	/* A time change is delivered without a run; TIME_SET, not
	 * TIME_CANNOT, so no "cannot set times" warning is logged. */
	(void)impl;
	(void)rpath;
	(void)mtime;
	(void)res;
	return TIME_SET;
}

const struct transport_ops transport_exec_ops = {
	.name = "exec",
	.global_init = exec_global_init,
	.global_cleanup = exec_global_cleanup,
	.open = exec_open,
	.close = exec_close,
	.on_progress = exec_on_progress,
	.set_job = exec_set_job,
	.put = exec_put,
	.verify = exec_verify,
	.publish = exec_publish,
	.discard = exec_discard,
	.remove = exec_remove,
	.rename = exec_rename,
	.list = exec_list,
	.mkdir = exec_mkdir,
	.rmdir = exec_rmdir,
	.set_time = exec_set_time,
};
