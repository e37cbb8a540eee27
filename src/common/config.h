/*
 * config.h - the server configuration file (relayftpd.ini).
 *
 * Owns: the config's types, its keys' defaults and bounds (tables in
 * config.c; [target:NAME] in config_target.c), and resolving relative
 * paths against the config file's folder (or, for the library's builder
 * entries, the current working directory).
 * A config is loaded once at start; it is read-only afterwards.
 */
#ifndef RFTP_CONFIG_H
#define RFTP_CONFIG_H

#include "common/buf.h"
#include "common/inifile.h"
#include "common/limits.h"
#include "common/log.h"

#include <limits.h>
#include <stdint.h>
#include <sys/socket.h>

struct inifile_entry;

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[80]; /* as written: "127.0.0.1:2121", "[::]:2121" */
};

enum verify_mode {
	VERIFY_SIZE,
	VERIFY_HASH,
	VERIFY_NONE,
};

/* One downstream server, [target:NAME]. */
struct target_config {
	char name[RFTP_NAME_MAX + 1];
	char url[1024];     /* scheme://[user:pass@]host[:port][/base] */
	char user[128];     /* overrides the URL's */
	char password[256]; /* from password or password_file */
	enum verify_mode verify;
	int flat; /* layout = flat: no per-user folder */
	int tls_verify;
	char ca_file[PATH_MAX]; /* CA bundle for tls_verify; "" = system's */
	int explicit_tls;       /* ftp:// with AUTH TLS (RFC 4217) required */
	int propagate_deletes, propagate_renames;
	char include[512], exclude[512]; /* glob lists */
	/* sftp:// only. The host key is checked against known_hosts (OpenSSH
	 * format) or host_key_sha256 (base64, as ssh-keygen -l prints it);
	 * one of them is required unless host_key_verify is off. */
	char known_hosts[PATH_MAX];
	char host_key_sha256[64];   /* without "SHA256:" and '=' padding */
	int host_key_verify;        /* default on */
	char private_key[PATH_MAX]; /* "" = password login */
	char public_key[PATH_MAX];  /* "" = derived from private_key */
	char passphrase[256];       /* of private_key, from passphrase_file */
	int ssh_line;               /* line of the first sftp-only key */
	const char *ssh_key;        /* and its name (for messages) */
	int host_key_line;          /* last host key setting, for messages */
	int key_extra_line;         /* last public_key/passphrase_file */
	/* s3:// only (transport_s3.c): url is s3://BUCKET[/PREFIX]. */
	char endpoint[512]; /* "" = https://s3.REGION.amazonaws.com */
	char region[64];    /* default us-east-1 */
	char access_key[128];
	char secret_key[256];         /* from secret_key or secret_key_file */
	int path_style;               /* -1 unset: on when endpoint is set */
	uint64_t multipart_threshold; /* bytes; default 64M */
	uint64_t part_size;           /* bytes; default 16M, at least 5M */
	/* exec:/ABS/PATH only (transport_exec.c): the argument list
	 * (common/execargs.h). */
	char args[1024];
	/* The seconds a run (exec:), a stalled request or an awaited reply
	 * may take (default 60). */
	uint64_t timeout;
	/* Not exec: seconds a connection idles before TCP keepalive probes;
	 * 0 = off (limits.h RFTP_DEFAULT_TARGET_KEEPALIVE, curlbase.c). */
	uint64_t keepalive;
	/* Not exec: bytes a second a transfer must keep up over timeout
	 * seconds; 0: only a stall fails (limits.h
	 * RFTP_DEFAULT_TARGET_MIN_RATE). */
	uint64_t min_rate;
	/* http:// and https:// (webhooks) only. */
	int hook_put;          /* mode = put (PUT the bytes); 0: notify */
	char hook_secret[256]; /* from secret_file; "" = unsigned */
	int url_line;          /* line of url, for messages */
	/* Per kind of target (config_target.c's kinds[]): the first key it
	 * would refuse, and its line (0: none), for check's message once
	 * the url says which kind this is. */
	int refused_line[RFTP_TARGET_KINDS];
	const char *refused_key[RFTP_TARGET_KINDS];
	int line;
};

/* [mirror] and its targets. */
struct mirror_config {
	char queue[PATH_MAX];
	uint64_t retry_initial, retry_max; /* seconds */
	uint64_t workers_per_target;
	uint64_t max_attempts; /* 0 = never park */
	int watch;             /* inotify on the homes */
	uint64_t watch_debounce_ms;
	uint64_t watch_pending_max; /* files held for their debounce */
	/* An upload is pushed while it arrives once it holds this many
	 * bytes (mirror/stream.c); 0: never, each is pushed once
	 * complete. */
	uint64_t stream_min_size;
	uint64_t stream_keep_idle; /* seconds a copy's connection is kept */
	/* One more worker a target, for small jobs of the sparse turn. */
	uint64_t express_max_size;
	struct target_config targets[RFTP_TARGETS_MAX];
	unsigned ntargets;
};

/* [tls]: FTPS (RFC 4217). Off when cert is empty. */
struct tls_config {
	char cert[PATH_MAX];       /* PEM chain; "" = no FTPS */
	char key[PATH_MAX];        /* PEM private key; "" = in cert */
	char ciphers[512];         /* TLS 1.2 cipher list; "" = OpenSSL's */
	char ciphersuites[512];    /* TLS 1.3 suites; "" = OpenSSL's */
	char min_version[8];       /* "1.2" or "1.3" */
	int require_login_tls;     /* USER/PASS only after AUTH TLS */
	int require_data_tls;      /* transfers only under PROT P */
	int require_session_reuse; /* data TLS must resume the control's */
	struct listen_addr implicit[RFTP_LISTEN_MAX]; /* implicit_listen */
	unsigned nimplicit;
};

/* [admin]: the HTTP status listener (src/admin/). Off unless listen. */
struct admin_config {
	int enabled;
	struct listen_addr listen;
	char token_file[PATH_MAX]; /* "" = no token: loopback only */
	char token[256];           /* its first line, blanks trimmed */
	char cert[PATH_MAX];       /* PEM; cert and key both: HTTPS */
	char key[PATH_MAX];
	int cert_line, key_line; /* for messages (0: not given) */
	uint64_t max_connections;
	uint64_t timeout; /* seconds a connection may idle */
};

struct config {
	char path[PATH_MAX];
	char dir[PATH_MAX]; /* folder of path: base for relative paths */
	struct listen_addr listen[RFTP_LISTEN_MAX];
	unsigned nlisten;
	char users_file[PATH_MAX];
	uint64_t max_clients;
	uint64_t max_clients_per_ip;
	uint16_t pasv_lo, pasv_hi; /* 0,0: any ephemeral port */
	char passive_address[64];  /* "" = the control connection's address */
	uint64_t idle_timeout;     /* seconds */
	uint64_t data_timeout;     /* seconds */
	char xferlog[PATH_MAX];    /* "" = off */
	char log_file[PATH_MAX];   /* "" = stderr (journald) */
	/* The lines of log_file, xferlog and [mirror] queue (0: not given),
	 * for config_check_outfiles' messages. */
	int log_file_line, xferlog_line, queue_line;
	int anonymous;
	uint64_t login_fail_delay_ms;
	uint64_t password_cache_ttl; /* seconds; 0 = every login argon2id */
	uint64_t upload_close_grace_ms;
	uint64_t login_fail_max;    /* failures per address; 0 = no bans */
	uint64_t login_fail_window; /* seconds */
	uint64_t login_ban_time;    /* seconds */
	int fsync_uploads;
	enum log_level log_level;       /* parsed once, here */
	char run_as[RFTP_USER_MAX + 1]; /* drop root to this user; "" = no */
	uint64_t umask;                 /* for created files and folders */
	uint64_t login_timeout;         /* seconds from connect to a login */
	uint64_t data_min_rate;         /* bytes/s over data_timeout; 0 = off */
	struct tls_config tls;
	struct mirror_config mirror;
	struct admin_config admin;
	/* A built config's users (librelayftpd's rftpd_config_add_user),
	 * used when users_file is "": read through users_source.h. Owned
	 * by whoever built the config; it outlives every copy. */
	const struct inifile_entry *user_entries;
	size_t nuser_entries;
};

/* Defaults for every key (used before parsing and by tests). */
void config_defaults(struct config *cfg);
/*
 * Loads path into cfg. Problems are appended to errs, one per line naming
 * file, line and key. Returns 0 if the file is valid, -1 otherwise (cfg is
 * then only partly filled and must not be used to serve).
 */
int config_load(const char *path, struct config *cfg, struct buf *errs);
/*
 * The files the daemon writes (log_file, xferlog, the queue): each must
 * not be a folder and its folder must exist, and a queue that exists must
 * be a SQLite file. Each problem is appended to errs as config_load's;
 * returns their count. Run by check and at start, not by config_load: a
 * config describes files that a test or the library may make later.
 * as_daemon 0: the library's files only (it writes no log_file), and an
 * existing queue is not opened (another server of the program may hold
 * its SQLite locks, which any close of the file in the process drops).
 */
int config_check_outfiles(
    const struct config *cfg, int as_daemon, struct buf *errs);
/*
 * The listen, implicit_listen and [admin] listen addresses that are not
 * addresses of this host (a bind fails with EADDRNOTAVAIL), one warning
 * line each in warnings; returns their count. For `check`, which may
 * validate a config meant for another host: a warning, not an error (the
 * start says it as an error when its bind fails).
 */
int config_warn_foreign_listen(const struct config *cfg, struct buf *warnings);
/* 1 if a's address (any port) is not one of this host's: its bind fails
 * with EADDRNOTAVAIL. Any other outcome (bound, in use, no permission,
 * no such family) says nothing about the address itself: 0. */
int config_address_foreign(const struct listen_addr *a);
/* The errno of a bind to a's address (and its port, or any port with
 * any_port), as a listener binds it; 0 if it binds or cannot be tried. */
int config_bind_error(const struct listen_addr *a, int any_port);
/*
 * config_load for entries made in memory (the library's config builder,
 * common/inifile.h), read by the same handlers with the same rules. name
 * stands for the file in cfg->path and so in every message ("NAME:LINE:
 * key 'K': reason", LINE being the entry's line); relative paths resolve
 * against the current working directory (cfg->dir). Unlike a file,
 * users_file defaults to "" (no users file) unless [server] users_file is
 * set. The entries are only read, and not kept. Returns 0 or -1 as
 * config_load does.
 */
int config_load_entries(const char *name, const struct inifile_entry *e,
    size_t n, struct config *cfg, struct buf *errs);
/*
 * What `check` adds to config_load: the files targets name that may come
 * and go while the daemon runs (an exec: target's program must be an
 * executable regular file). Not part of config_load, so a program missing
 * for a while (an upgrade) fails its runs, retried, instead of stopping a
 * restart or `mirror status`: the daemon's start says them as warnings
 * (as_warning), `check` as errors. Appends to errs; returns the problems
 * found.
 */
int config_targets_check_files(
    const struct config *cfg, struct buf *errs, int as_warning);
/* Parses "127.0.0.1:2121" or "[::1]:21" into a socket address. */
int config_parse_listen(const char *text, struct listen_addr *out);
/* The target called name, or NULL. */
const struct target_config *config_target(
    const struct config *cfg, const char *name);
/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
int config_is_loopback(const struct listen_addr *a);
/* 1 if s holds an escaped control byte (%00 to %1F, any case): what
 * libcurl refuses in an FTP path (it sends DEL). The target's url path is
 * checked with it at start, and a push's url by the mirror. */
int config_escapes_control(const char *s);
/* Joins a relative path onto base (absolute paths are copied). */
int config_resolve_path(
    const char *base, const char *p, char *out, size_t outlen);

/*
 * Appends to out, one line each ending in '\n', the keys of [server],
 * [tls], [mirror] and [admin] whose values differ between was (the config
 * being served) and now (the file as it reads now): "[server]
 * passive_ports". [target:NAME] sections are target_diff.h's. A secret
 * (the admin token read from token_file) is named by its key, never shown.
 * Returns the number of lines appended, or -1 if out is full (what fitted
 * is kept). Pure: reads two configs.
 */
int config_diff(
    const struct config *was, const struct config *now, struct buf *out);

/* Pushes the mirror may run at once: every target's workers and its
 * express lane (the in-flight table's slots, for its readers too). */
size_t config_push_slots(const struct config *cfg);

#endif
