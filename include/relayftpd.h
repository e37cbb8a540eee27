/*
 * relayftpd.h - librelayftpd: an FTP server with a durable relay to
 * downstream servers, embedded in your program.
 *
 * This header is the library's reference. Link with
 * `pkg-config --cflags --libs relayftpd`.
 *
 * Model
 *   A config (rftpd_config) says what to serve: either a relayftpd.ini
 *   loaded from disk (the daemon's format, relayftpd.ini(5)) or one built
 *   in memory with rftpd_config_set and rftpd_config_add_user. A server
 *   (rftpd_server) is made from a config, given callbacks, started (it runs
 *   in threads of its own), stopped and freed. A process may run several
 *   servers at once; they share nothing but the process.
 *
 * Ownership
 *   Every handle is created by an rftpd_*_new/_load function and released
 *   by the matching _free. Strings passed in are copied before the call
 *   returns. Strings and structs passed to a callback are valid during the
 *   call only.
 *
 * Threads
 *   rftpd_config functions: one thread at a time per config. A server
 *   copies its config at rftpd_server_new: the config may then be changed
 *   or freed. rftpd_server_new, _set_callbacks, _start, _stop and _free:
 *   from one thread (the owner's). rftpd_server_port, _reload,
 *   rftpd_mirror_status, rftpd_mirror_retry and rftpd_status_json: from
 *   any thread while the server is started. Callbacks run on the server's own threads, several
 *   at once (one per FTP session): they must be thread-safe, must not
 *   call rftpd_server_stop or _free (a stop cannot wait for the thread it
 *   runs on: such a call does nothing but log an error; tell the owner's
 *   thread to stop it instead), and should return quickly (a session
 *   waits for its callback). The log callback runs on the mirror's and
 *   the admin listener's threads too, and on the caller's own thread
 *   inside rftpd_server_start, _reload, _stop, _free and the mirror
 *   functions (their lines: "relayftpd ready", "stopped", ...): it must
 *   not take a lock the program holds across those calls.
 *
 * Process-wide effects
 *   None but these: rftpd_server_new raises the soft RLIMIT_NOFILE to
 *   the hard one when max_clients needs more descriptors (and says so,
 *   and if even that is too few, in lines the log callback gets when the
 *   server starts); password checks (argon2id) are bounded per process, across all
 *   its servers. It changes no signal's disposition and installs no
 *   handler: its threads block every signal, so the program's signals
 *   reach the program's threads only, and a write to a socket a peer
 *   closed fails there with EPIPE instead of raising SIGPIPE. An exec:
 *   target reads its commands' exit status: a program that ignores
 *   SIGCHLD (SIG_IGN, SA_NOCLDWAIT), or reaps every child in a handler,
 *   makes those runs fail (logged). It never calls exit(). It writes nothing to stdout or
 *   stderr unless the program asks: log lines go to the log callback
 *   only (rftpd_log_stderr, given as that callback, writes them to
 *   stderr; [server] log_file and xferlog's rotation are the daemon's).
 *   A config with [server] run_as makes rftpd_server_start switch the
 *   whole process to that user (it must start as root); [server] umask is applied by the relayftpd daemon
 *   only: an embedded server creates files with the process's umask.
 *   A child the program forks while a server runs shares its
 *   descriptors: the stop ends the FTP ports' listening and releases
 *   the queue's lock for every copy, so a child that lives on holds
 *   neither. The library's own descriptors are close-on-exec; libcurl's
 *   are not all (7.88 makes a socket pair without it for each push
 *   connection of an ftp/ftps/sftp/http/s3 target): a program that
 *   executes others while such a server runs should close, in the
 *   child, what it does not mean to pass (close_range(2), closefrom).
 *
 * Errors
 *   Functions that can fail return NULL or -1 and, when given a
 *   struct rftpd_error, fill it in.
 */
#ifndef RELAYFTPD_H
#define RELAYFTPD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RFTPD_VERSION_MAJOR 0
#define RFTPD_VERSION_MINOR 1
#define RFTPD_VERSION_PATCH 0

/* The library's version, "MAJOR.MINOR.PATCH" (may differ from the header
 * the program was built with). */
const char *rftpd_version(void);

/* ------------------------------------------------------------ errors */

struct rftpd_error {
	/* Every problem found, one per line, as `relayftpd check` prints
	 * them: "FILE:LINE: key 'KEY': reason". Always NUL-terminated; cut
	 * (ending in "...") if longer. */
	char message[8192];
	/* The first problem's file (a config path, a users file, or the
	 * name a built config reports as, "rftpd_config"), its line (for a
	 * built config: the number of the rftpd_config_set or _add_user
	 * call, from 1) and key; "" and 0 where the problem has none. */
	char file[1024];
	int line;
	char key[64];
	/* Zero: room for later fields without changing the size. */
	uint64_t reserved[8];
};

/* ------------------------------------------------------------ config */

typedef struct rftpd_config rftpd_config;

/*
 * Loads a relayftpd.ini and the users file it names (users_file, default
 * users.ini next to it), with every check `relayftpd check` makes. Returns
 * a new config, or NULL with every problem in err (may be NULL).
 * rftpd_config_check and rftpd_server_new check it again, reading the
 * users file and the [tls] files as they are then (they may have changed);
 * rftpd_server_reload re-reads the users file.
 */
rftpd_config *rftpd_config_load(const char *path, struct rftpd_error *err);

/*
 * An empty config for a program that keeps its settings elsewhere: the
 * daemon's defaults (relayftpd.ini(5)), no users file, and listen =
 * 127.0.0.1:2121 until set. NULL without memory.
 */
rftpd_config *rftpd_config_new(void);

/*
 * Sets key in section as a line of relayftpd.ini would ("server",
 * "listen", "127.0.0.1:0"; "target:backup", "url", "sftp://..."). Sections
 * and keys are those of relayftpd.ini(5); a key set twice takes the last
 * value. The value is checked when the config is used (rftpd_config_check
 * or rftpd_server_new), with the same rules and messages as the file's;
 * its line is this call's number. A built config with a [target:NAME]
 * must set [mirror] queue (the default, in the working directory, could
 * be a home's or another server's); no queue may lie inside a home. 0, or -1 for a NULL argument, a config
 * loaded from a file (not changeable) or no memory.
 */
int rftpd_config_set(
    rftpd_config *cfg, const char *section, const char *key, const char *value);

/*
 * Adds a user as a users.ini section would: password is an argon2id hash
 * ("$argon2id$...", as `relayftpd passwd` prints) or a plain password
 * (hashed here, which takes a moment), home an absolute path (a folder
 * not there yet is made, mode 0750, at the user's first login), and
 * permissions "rw", "ro" or a list ("read, write, mkdir"). Other users.ini
 * keys (quota_bytes, mirror, max_sessions, ...) with
 * rftpd_config_set_user. Checked with the config. 0, or -1 with errno
 * EINVAL for a NULL argument, an empty password or a relative home,
 * EEXIST for a name already added, EPERM for a loaded config, ENOMEM for
 * no memory.
 */
int rftpd_config_add_user(rftpd_config *cfg, const char *name,
    const char *password, const char *home, const char *permissions);
/* Sets one more users.ini key of a user added with rftpd_config_add_user.
 * 0, or -1 as rftpd_config_set, and with errno ENOENT for a name not
 * added (names are case-sensitive; nothing is set), EEXIST for a key the
 * user has already (its password, home and permissions among them),
 * EINVAL for an empty password. */
int rftpd_config_set_user(
    rftpd_config *cfg, const char *name, const char *key, const char *value);

/* Checks a config as rftpd_server_new would, without starting anything,
 * the files it will write among them ([mirror] queue, [server] xferlog:
 * not a folder, in a folder that exists; log_file is the daemon's and is
 * not looked at). 0, or -1 with every problem in err. */
int rftpd_config_check(const rftpd_config *cfg, struct rftpd_error *err);

void rftpd_config_free(rftpd_config *cfg);

/* ------------------------------------------------------------ callbacks */

enum rftpd_log_level {
	RFTPD_LOG_ERROR = 0,
	RFTPD_LOG_WARN = 1,
	RFTPD_LOG_INFO = 2,
	RFTPD_LOG_DEBUG = 3,
};

/* What a client offers at login. */
struct rftpd_login {
	const char *user;     /* as sent with USER */
	const char *password; /* as sent with PASS */
	const char *peer; /* the client's address, "192.0.2.7", "2001:db8::1" */
	int tls;          /* 1: the control connection is under TLS */
};

/* Permission bits of a grant. */
/* (relayftpd.ini(5), permissions: what each allows, by every command.) */
#define RFTPD_PERM_READ   (1u << 0) /* RETR, LIST, SIZE, HASH, ... */
#define RFTPD_PERM_WRITE  (1u << 1) /* STOR/STOU of new names, resumes */
#define RFTPD_PERM_APPEND (1u << 2) /* APPE; with WRITE, REST at end+STOR */
#define RFTPD_PERM_DELETE (1u << 3) /* DELE, any replace of a file */
#define RFTPD_PERM_RENAME (1u << 4) /* RNFR/RNTO */
#define RFTPD_PERM_MKDIR  (1u << 5) /* MKD */
#define RFTPD_PERM_RMDIR  (1u << 6) /* RMD, RNTO onto an empty folder */
#define RFTPD_PERM_RO     RFTPD_PERM_READ
#define RFTPD_PERM_RW     0x7fu

/* What authenticate fills in to let a login in. Zeroed before the call. */
struct rftpd_grant {
	/* Absolute path of the home; made (mode 0750) if it is not there. */
	char home[4096];
	unsigned perms;        /* RFTPD_PERM_* bits; none: login refused */
	uint64_t quota_bytes;  /* 0 = unlimited */
	uint64_t quota_files;  /* files and folders; 0 = unlimited */
	uint64_t max_sessions; /* at once for this name; 0 = unlimited */
	/* Targets this user's files go to: "" = all, "none", or a
	 * comma-separated list of [target:NAME] names; a name the config
	 * has no target of refuses the login (logged), as users.ini's
	 * check refuses it. */
	char mirror[512];
};

enum rftpd_auth {
	RFTPD_AUTH_DENY = 0,  /* "530 Login incorrect." (counts toward bans) */
	RFTPD_AUTH_ALLOW = 1, /* logged in with *grant */
	/* Not this callback's user: the config's users (users file or
	 * rftpd_config_add_user) decide, as without a callback. */
	RFTPD_AUTH_PASS = 2,
};

/* A file a client uploaded. */
struct rftpd_upload {
	const char *user;       /* the logged-in user's name */
	const char *path;       /* in the user's home: "/cam1/0001.jpg" */
	const char *local_path; /* absolute path on this machine */
	uint64_t size;          /* complete: the file's size; aborted: the
	                           bytes received by this transfer */
	/* complete, with want_sha256 set: the SHA-256 of the file as read
	 * right after it was published (64 lowercase hex digits); else
	 * NULL, as when the file could not be read or rftpd_server_stop
	 * cut its reading short. */
	const char *sha256;
	const char *peer; /* the client's address */
};

/* A name a client deleted or renamed. */
struct rftpd_change {
	const char *user;
	const char *path;           /* in the home */
	const char *local_path;     /* absolute */
	const char *new_path;       /* renamed: the new name; else NULL */
	const char *new_local_path; /* renamed: absolute; else NULL */
	int folder;                 /* 1: a folder (RMD; a renamed folder) */
	const char *peer;
};

struct rftpd_callbacks {
	void *userdata; /* passed to each callback as is */
	/*
	 * Decides a login (USER/PASS) before the config's users are asked,
	 * on the session's thread. Return RFTPD_AUTH_ALLOW with grant->home
	 * and grant->perms set, RFTPD_AUTH_DENY, or RFTPD_AUTH_PASS. A
	 * failed login is delayed and counted toward the address's ban as
	 * any other. An ALLOW is refused (and logged) when the user name is
	 * one users.ini would refuse (1 to 49 of A-Z a-z 0-9 _ . @ -, not "."
	 * or ".."): the name is the user's folder on every target. Sessions
	 * of one name share its quota account and max_sessions, so a grant
	 * should depend on the name alone. With [server] anonymous = on the
	 * callback is still asked first for "anonymous" and "ftp". NULL: the
	 * config's users only.
	 */
	enum rftpd_auth (*authenticate)(void *userdata,
	    const struct rftpd_login *login, struct rftpd_grant *grant);
	/*
	 * A file was uploaded completely: it is in place under its name,
	 * and in the mirror's queue if there are targets (or, should the
	 * queue be unwritable, its disk full, queued by the mirror's walk
	 * of the home once it can be: the 226 says so). Called once per
	 * completed upload (STOR, STOU, APPE), after the file is published
	 * and queued and before the client is told 226, so when the client
	 * sees 226 the program knows. Never for an upload that failed.
	 */
	void (*upload_complete)(void *userdata, const struct rftpd_upload *up);
	/*
	 * An upload that did not complete: the client vanished, the quota,
	 * a disk error, or the mirror could not record that it was coming
	 * (the client is told 451). local_path
	 * is where the file would have been published: it may hold the
	 * previous complete version, so do not delete it. What arrived may
	 * be kept, under a hidden partial name, for a resume.
	 */
	void (*upload_aborted)(void *userdata, const struct rftpd_upload *up);
	/* A client deleted a file (DELE) or removed a folder (RMD). */
	void (*file_deleted)(void *userdata, const struct rftpd_change *ch);
	/* A client renamed a file or folder (RNFR/RNTO). */
	void (*file_renamed)(void *userdata, const struct rftpd_change *ch);
	/* Every log line this server writes (level, text without the line
	 * break or a timestamp), on the thread that writes it: a session's,
	 * the mirror's, or the caller's inside rftpd_server_start, _reload,
	 * _stop, _free and the mirror functions (see Threads above). Lines
	 * above [server] log_level are not
	 * produced. NULL: the lines are dropped; rftpd_log_stderr: they go
	 * to stderr with a timestamp and the level, as the daemon's. */
	void (*log)(
	    void *userdata, enum rftpd_log_level level, const char *line);
	/* 1: compute the SHA-256 of each completed upload for
	 * upload_complete (it reads the file once more). */
	int want_sha256;
};

/* A log callback that writes each line to stderr as the daemon does
 * ("2026-12-01T21:50:25.123Z info LINE"), one write per line. A stderr
 * that takes no more (a pipe whose reader is gone, a file at
 * RLIMIT_FSIZE) loses the line and raises no SIGPIPE or SIGXFSZ, on any
 * thread: the two are blocked for the write and a signal it raised is
 * taken back; no disposition is changed, and one the program had
 * pending, or another program sends meanwhile, stays for it. */
void rftpd_log_stderr(
    void *userdata, enum rftpd_log_level level, const char *line);

/* ------------------------------------------------------------ server */

typedef struct rftpd_server rftpd_server;

/*
 * A server for cfg (copied: cfg may be freed afterwards). Checks the
 * config and loads its users; binds and starts nothing yet. NULL with the
 * problems in err. What `relayftpd check` warns of a valid config (a user
 * [ftp] with anonymous = on) reaches the log callback, as warnings, when
 * the server starts.
 */
rftpd_server *rftpd_server_new(
    const rftpd_config *cfg, struct rftpd_error *err);

/* Sets the callbacks (copied; size = sizeof(struct rftpd_callbacks), so
 * a program built against an older, shorter struct keeps working). Only
 * before rftpd_server_start. 0, or -1. */
int rftpd_server_set_callbacks(
    rftpd_server *srv, const struct rftpd_callbacks *cb, size_t size);

/*
 * Binds every listen address (and [tls] implicit_listen, then [admin]
 * listen), starts the mirror, the watcher and the session threads, and
 * returns once every port accepts connections. 0, or -1 with the reason
 * in err (nothing is left running). Once per server.
 */
int rftpd_server_start(rftpd_server *srv, struct rftpd_error *err);

/* The number of FTP ports bound: [server] listen addresses, then [tls]
 * implicit_listen ones. 0 before start. */
unsigned rftpd_server_port_count(const rftpd_server *srv);
/* The i-th bound port (the real one when the config said 0), or 0. */
int rftpd_server_port(const rftpd_server *srv, unsigned i);
/* The admin listener's port ([admin] listen), or 0 without one. */
int rftpd_server_admin_port(const rftpd_server *srv);

/* Re-reads the users file (as SIGHUP does for the daemon); a broken file
 * keeps the users in force and logs why. Users added with
 * rftpd_config_add_user stay as they are. 0, or -1. */
int rftpd_server_reload(rftpd_server *srv);

/*
 * Stops accepting, ends every session (an upload in progress is closed
 * and kept as a partial), stops the pushes in flight (each is retried at
 * the next start: the queue keeps it) and joins every thread. Bounded:
 * it returns within a few seconds even with hung peers. Idempotent.
 */
void rftpd_server_stop(rftpd_server *srv);

/* Stops it if needed and frees it; NULL is a no-op. */
void rftpd_server_free(rftpd_server *srv);

/* ------------------------------------------------------------ mirror */

struct rftpd_target_status {
	char name[128];
	char url[1024];    /* without user or password */
	const char *state; /* "up", "backoff", "failing"; "unknown" if the
	                      queue could not be read */
	int64_t queued, running, parked;
	int64_t oldest_ms; /* creation of the oldest unfinished job; 0 */
	char last_error[512];
	int64_t last_error_ms, last_ok_ms; /* ms since the epoch; 0 never */
	uint64_t attempts, successes, failures, bytes_pushed;
};

struct rftpd_mirror_status {
	size_t ntargets;
	struct rftpd_target_status *targets; /* config order */
	/* This server's counters since it started. */
	uint64_t logins_ok, logins_failed;
	uint64_t uploads_completed, uploads_aborted, upload_bytes;
	int64_t sessions_open;
	/* Zero: room for later fields without changing the size. */
	uint64_t reserved[8];
};

/* The facts of `relayftpd mirror status` and /api/status, now. 0 (free
 * with rftpd_mirror_status_free), or -1. Without targets: 0 targets. */
int rftpd_mirror_status(rftpd_server *srv, struct rftpd_mirror_status *out);
void rftpd_mirror_status_free(struct rftpd_mirror_status *st);

/*
 * The JSON document GET /api/status serves (README, "Status page"):
 * counters, targets, the last 100 files received, the pushes in flight and
 * a page of unfinished jobs (of target, NULL: every target; skipping
 * offset; at most limit, 1 to 500, 0 = 50). A new NUL-terminated string
 * (free it with rftpd_free), or NULL (no memory, an unknown target, a
 * limit over 500, a server not started).
 */
char *rftpd_status_json(
    rftpd_server *srv, const char *target, int64_t offset, size_t limit);
/*
 * The same document with the page of jobs past a cursor, as GET
 * /api/status?after=ID serves it: the jobs of target (NULL: every target)
 * whose id is above after (0 or more: the jobs.next_after of the page
 * before), at most limit (1 to 500, 0 = 50). Any depth costs what the
 * first page costs, where an offset makes the queue step over the jobs
 * before the page. NULL as rftpd_status_json, and for an after below 0.
 */
char *rftpd_status_json_after(
    rftpd_server *srv, const char *target, int64_t after, size_t limit);
/* Frees what the library allocated for the caller (rftpd_status_json,
 * rftpd_status_json_after). */
void rftpd_free(void *p);

/* What `relayftpd mirror retry [TARGET]` does, on this server: queues the
 * jobs parked after max_attempts again (target NULL: every target) and
 * wakes the pushers. The number requeued, or -1 (queue error, unknown
 * target, no mirror). */
int64_t rftpd_mirror_retry(rftpd_server *srv, const char *target);

#ifdef __cplusplus
}
#endif

#endif
