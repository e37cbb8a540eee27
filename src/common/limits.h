/*
 * limits.h - every hard limit of relayftpd in one place.
 *
 * Owns: the numbers that bound memory and work per session and per request.
 * A limit that protects the daemon from a client lives here and nowhere else,
 * so an audit reads one file (the vsftpd defs.h idea).
 */
#ifndef RFTP_LIMITS_H
#define RFTP_LIMITS_H

/* RFC 959 puts no bound on a line; 8 KiB covers any real path in UTF-8. */
#define RFTP_LINE_MAX 8192
/* The sections and keys of one relayftpd.ini kept to find one given twice
 * (config.c): 32 targets of 30 keys take about 20 KiB. */
#define RFTP_CONFIG_SEEN_MAX (1024 * 1024)
/* A session's command input starts this small and grows (up to
 * RFTP_LINE_MAX) only for a long line: most commands are short, and an
 * idle session should cost little memory. */
#define RFTP_LINE_BUF_MIN 512
/* Commands refused unread (unknown, malformed, a NUL) a session logs; the
 * rest are counted in one line, so a client cannot flood the log. */
#define RFTP_BAD_CMDS_LOGGED 16
/* Such lines (session_log_capped) all sessions of a server may log: a
 * burst of RFTP_CAPPED_LOG_BURST, refilled at RFTP_CAPPED_LOG_PER_SECOND;
 * the rest are counted in one line. The cap above is a session's, and a
 * client reconnecting after each 16 had 19 lines written a connection:
 * 86,000 lines (7 MB) in 3 s from one address. The burst lets a few
 * sessions' caps through at once (the cap's own tests log 8 x 17).
 * Logged-in clients' warnings (a bounce) have a budget of their own of
 * the same size, and so have the warnings anyone can cause (a stranger
 * on a passive port), and so have the connections refused before a
 * session (max_clients_per_ip, a ban): one kind's flood cannot hide
 * another's lines. */
#define RFTP_CAPPED_LOG_PER_SECOND 50
#define RFTP_CAPPED_LOG_BURST      200
/* Of those refused connections, lines one address may have a second
 * (the last RFTP_REFUSED_ADDRS addresses refused are remembered): a
 * client looping at its max_clients_per_ip spent the whole budget, and
 * the server then full, or another address banned, was refused unlogged
 * (the rest are counted in the same "not logged" line). */
#define RFTP_REFUSED_LOG_PER_ADDRESS 5
#define RFTP_REFUSED_ADDRS           16
/* Of the logged-in clients' warnings (a bounce, a quota), lines one
 * source may have of each kind: a burst of RFTP_WARN_SOURCE_BURST (a
 * session's 16 and the line saying the rest are not logged), refilled at
 * RFTP_WARN_SOURCE_PER_SECOND. A source is a user, or for anonymous
 * logins an address (IPv6: its /64); the last RFTP_WARN_SOURCES pairs of
 * a source and a kind are remembered (one kind's budget only: a user's
 * own bounce flood hid that user's quota warnings; 16 were too few: eight
 * users looping with two kinds took each other's slots, each coming back
 * with a full burst), for named users and anonymous addresses apart (in
 * one table, anonymous logins from many addresses pushed a user's pair
 * out between her sessions). All anonymous sources
 * together have a burst of RFTP_WARN_ANON_BURST, then
 * RFTP_WARN_ANON_PER_SECOND, half the budget of all clients, and of each
 * kind half that, RFTP_WARN_ANON_KIND_* (the last RFTP_WARN_ANON_KINDS
 * kinds remembered): one anonymous client reconnecting with PORTs to a
 * third host spent the whole budget, and another user's bounce, or a
 * quota warning, was only counted; anonymous bounces from many addresses
 * hid an anonymous login's quota warning; and with 100 then 25 a second
 * of each kind, anonymous floods of two kinds took the whole budget, and
 * a named user's warnings past the reserve's line were only counted. */
#define RFTP_WARN_SOURCE_BURST         20
#define RFTP_WARN_SOURCE_PER_SECOND    5
#define RFTP_WARN_SOURCES              64
#define RFTP_WARN_ANON_BURST           (RFTP_CAPPED_LOG_BURST / 2)
#define RFTP_WARN_ANON_PER_SECOND      (RFTP_CAPPED_LOG_PER_SECOND / 2)
#define RFTP_WARN_ANON_KINDS           4
#define RFTP_WARN_ANON_KIND_BURST      (RFTP_WARN_ANON_BURST / 2)
#define RFTP_WARN_ANON_KIND_PER_SECOND (RFTP_WARN_ANON_PER_SECOND / 2)
/* Named users' pairs pushed out of the RFTP_WARN_SOURCES are kept
 * beyond them, their bucket and last reserve line, by a hash of the pair
 * in RFTP_WARN_GHOST_SETS sets of RFTP_WARN_GHOST_WAYS (the least recently
 * heard of in a set gives way): 80 users looping with two kinds took
 * each other's slots, each came back with a full burst and quiet, and
 * took the reserve, so a quiet user's first warning was only counted.
 * Only past 64 + 1,024 pairs (an admin's 500 accounts looping) does one
 * come back new. */
#define RFTP_WARN_GHOST_SETS 256
#define RFTP_WARN_GHOST_WAYS 4
/* Beside the budget of all clients' warnings, a reserve of
 * RFTP_WARN_FRESH_BURST lines, refilled at RFTP_WARN_FRESH_PER_SECOND,
 * for the named users quiet of the kind lately (no line of it asked for
 * in the time their burst takes to refill): five users looping with two
 * kinds spent the whole budget, and a quiet user's first warning was
 * only counted. Not for anonymous sources, new with each address. */
#define RFTP_WARN_FRESH_BURST      10
#define RFTP_WARN_FRESH_PER_SECOND 2
/* A user and kind take at most one line from that reserve in this many
 * seconds: 20 users each sending one warning every 4.1 s (quiet each
 * time) while others looped spent it, and a quiet user's first line was
 * only counted. */
#define RFTP_WARN_FRESH_AGAIN_S 60
/* The "connected" line of a session (and its "closed" one, written only
 * with it): an address (IPv6: its /64) has a burst of
 * RFTP_CONN_LOG_BURST, refilled at RFTP_CONN_LOG_PER_SECOND, and all
 * addresses together the capped lines' RFTP_CAPPED_LOG_BURST then
 * RFTP_CAPPED_LOG_PER_SECOND; the rest are counted, and an address's
 * count is said in one line once RFTP_CONN_SUMMARY_S have passed since
 * its first connection left out (and at a stop). The last
 * RFTP_CONN_ADDRS addresses are remembered; one pushed out has its count
 * said with the other addresses'. A script connecting and sending QUIT
 * in a loop from one address had 14,104 lines written in 2 s (700 KB a
 * second of log). */
#define RFTP_CONN_LOG_BURST      20
#define RFTP_CONN_LOG_PER_SECOND 2
#define RFTP_CONN_ADDRS          64
#define RFTP_CONN_SUMMARY_S      10
/* Bytes of a client's path one log line shows (a refused missing path,
 * reply.c): a longer one is cut with "...", so the line keeps its end. */
#define RFTP_LOG_PATH_MAX 300
/* A session that has waited this long for its next command gives back the
 * memory a deep command used (stack pages, a grown input buffer). A busy
 * client sends sooner and pays nothing for it. */
#define RFTP_IDLE_TRIM_MS 100
/* A virtual path (after normalisation) and its depth. */
#define RFTP_PATH_MAX       4096
#define RFTP_PATH_DEPTH_MAX 256
/* One reply line we build; longer text is truncated with a marker. */
#define RFTP_REPLY_MAX 8192
/* User names in users.ini and USER: inih keeps 49 bytes of a section. */
#define RFTP_USER_MAX 49
/* Bounded argon2id work: at most this many verifications at once, so a login
 * flood cannot starve transfers of CPU and memory. */
#define RFTP_PWHASH_CONCURRENCY 2
/* Verified-credential cache (pwcache.c): users remembered at once; the least
 * recently used is forgotten beyond it. 1,024 entries of 128 bytes: 128 KiB
 * of locked memory. Default password_cache_ttl in seconds (0 = off). */
#define RFTP_PWCACHE_ENTRIES     1024
#define RFTP_DEFAULT_PWCACHE_TTL 300
/* Transfer buffers: large for STOR (fewer syscalls), sendfile for RETR. */
#define RFTP_XFER_BUF       (256 * 1024)
#define RFTP_SENDFILE_CHUNK (1024 * 1024)
/* Pipe size asked for a spliced upload (the default pipe-max-size). */
#define RFTP_SPLICE_PIPE (1024 * 1024)
/* The login-time count of a home for the quota (fs_usage): past these it
 * fails closed. Depth costs memory only (no descriptor per level); names
 * bounds the subfolder names kept while walking. */
#define RFTP_USAGE_ENTRIES_MAX 10000000
#define RFTP_USAGE_DEPTH_MAX   100000
#define RFTP_USAGE_NAMES_MAX   (64 * 1024 * 1024)
/* users.ini max_entries_per_folder: default, and the most it may be set to
 * (0 there = unlimited). */
#define RFTP_DEFAULT_FOLDER_ENTRIES 100000
#define RFTP_FOLDER_ENTRIES_MAX     1000000
/* The folders whose entry counts an account keeps (quota.c), so that a
 * new name in a big folder does not read it all; a count is read again
 * after this many of the account's own changes of the folder, which bounds
 * what a change by someone else that the ctime did not show can skew. */
#define RFTP_FOLDERS_SEEN        8
#define RFTP_FOLDER_SEEN_UPDATES 256
/* Homes whose count failed, remembered by the server beyond their last
 * session (quota.c): the warning that a home cannot be counted is logged
 * when its reason is new, then again at most once in
 * RFTP_UNCOUNTED_REMIND_S while it lasts; logged at every login, a
 * client reconnecting in a loop wrote one line a login (1,600 a second).
 * The least recently warned of is forgotten first. */
#define RFTP_UNCOUNTED_SEEN     64
#define RFTP_UNCOUNTED_REMIND_S 60
/* Descriptors one session may hold at once (control, home, data listener
 * or connection, an upload's folder, its partial twice (written, and
 * read-only with the lock), the mirror's copy of that for a stream (or,
 * for an append, which never streams, the file it appends to), the two
 * ends of the splice pipe kept between uploads; a folder being walked
 * instead while listing) and those the daemon needs besides (listeners,
 * logs, the mirror's queue, targets, watcher): the start-up check of
 * RLIMIT_NOFILE against max_clients uses them. */
#define RFTP_FDS_PER_SESSION 9
#define RFTP_FDS_RESERVE     128
/* Descriptors one admin HTTP connection holds: its socket and the
 * sweeper's duplicate of it (admin/http.c). [admin] max_connections of
 * them count in the same check: a flood of the admin listener, which
 * needs no token to connect, took every descriptor the sessions had been
 * promised, and every login got 421. */
#define RFTP_FDS_PER_ADMIN_CONN 2
/* A listing is formatted into a buffer of this size and sent whenever it
 * fills: the memory of a LIST whatever the folder holds. */
#define RFTP_LIST_CHUNK (64 * 1024)
/* `mirror resync` holds one folder's listing of a target at a time: at
 * most this many entries and this many bytes of names (NUL included), so
 * at most 16 bytes an entry plus the names, about 80 MiB, however much
 * the target lists. A folder past either fails the resync, saying so.
 * Each entry took 272 bytes and the raw listing (up to 256 MiB) was held
 * besides: a target listing a million names made resync take 270 MB. */
#define RFTP_RESYNC_ENTRIES_MAX 1000000
#define RFTP_RESYNC_NAMES_MAX   (64u * 1024 * 1024)
/* The repair of a refused folder rename (mirror/worker.c remove_old_tree)
 * walks the old folder on the target: at most this many entries and this
 * many folders among them, over all its levels (each level's listing is
 * held while the levels below it are walked). Past either, as past
 * RFTP_PATH_DEPTH_MAX levels or a name too long, the job is parked,
 * saying so; a retry goes on from what is left. A target listing 100,000
 * folders in each folder was walked for ever. */
#define RFTP_REPAIR_ENTRIES_MAX 1000000
#define RFTP_REPAIR_FOLDERS_MAX 10000
/* A folder of at most this many entries is listed sorted by name; a bigger
 * one in directory order (sorting needs all names in memory). */
#define RFTP_LIST_SORT_MAX 2048
/* A pattern of LIST or NLST (wildcard.h) may take this many steps over a
 * folder, plus this many for each byte of the names it is matched against
 * (a "*.jpg" takes one or two): past that the listing stops with 451. A
 * pattern costs at most its length times a name's; without the bound a
 * "*" and 60 sets made a client's NLST of 100,000 long names cost 16 s
 * of CPU, 50 times the listing itself. */
#define RFTP_WILDCARD_STEPS_FREE     (4U * 1024 * 1024)
#define RFTP_WILDCARD_STEPS_PER_BYTE 16
/* A control connection whose replies back up is closed after idle_timeout
 * unless the client drains its queue or takes this many bytes meanwhile. */
#define RFTP_CTRL_WRITE_PROGRESS (64 * 1024)
/* The mirror watcher: files waiting for watch_debounce_ms are held in at
 * most this many bytes (paths included) whatever watch_pending_max says;
 * and it hands due files to the mirror in slices of this many ms. */
#define RFTP_WATCH_PENDING_BYTES       (64 * 1024 * 1024)
#define RFTP_WATCH_SLICE_MS            200
#define RFTP_DEFAULT_WATCH_PENDING_MAX 250000
/* Folders in homes the watcher may not open (their mode) that it tries
 * again each second, to watch them once they are opened up. */
#define RFTP_WATCH_CLOSED_MAX 1024
/* Files and folders the watcher's events name with a path too long to
 * mirror are said at once, then at most once in this many ms, with how
 * many since. */
#define RFTP_WATCH_LEFT_OUT_SAY_MS 60000
/* [mirror] stream_min_size: below it an extra connection and a thread to
 * push while the upload arrives cost more than waiting for its end. */
#define RFTP_DEFAULT_STREAM_MIN_SIZE (8ULL * 1024 * 1024)
/* [mirror] stream_keep_idle: seconds a stream copy's logged-in connection
 * is kept for the next copy. A login can cost more than the copy (a
 * vsftpd target's PAM check of a yescrypt hash took 135 ms of a 300 ms
 * relay of 256 MiB on the bench); libcurl reuses no connection idle for
 * 118 s (CURLOPT_MAXAGE_CONN), so a longer keep would buy nothing. */
#define RFTP_DEFAULT_STREAM_KEEP_IDLE 100
#define RFTP_STREAM_KEEP_IDLE_MAX     118
/* [mirror] express_max_size: a camera's picture or a scanned page, not a
 * file whose push would hold the lane for seconds on a slow link. */
#define RFTP_DEFAULT_EXPRESS_MAX_SIZE (1ULL * 1024 * 1024)
/* A target's workers, and its stream copies at once (workers_per_target). */
#define RFTP_WORKERS_PER_TARGET_MAX 64
/* Session thread stack: sessions do not recurse deeply. Address space
 * only: an idle session keeps just the pages it uses (server.h). */
#define RFTP_THREAD_STACK (256 * 1024)
/* Defaults for [server]. */
#define RFTP_DEFAULT_MAX_CLIENTS         64
#define RFTP_DEFAULT_MAX_PER_IP          16
#define RFTP_DEFAULT_IDLE_TIMEOUT        300
#define RFTP_DEFAULT_DATA_TIMEOUT        30
#define RFTP_DEFAULT_LOGIN_FAIL_DELAY_MS 1000
/* A connection that has not logged in by then is closed (slow-loris). */
#define RFTP_DEFAULT_LOGIN_TIMEOUT 60
/* exec: and webhook targets: seconds a command may run before its
 * process group is killed, or a request may stall (timeout). exec: the
 * grace between SIGTERM and SIGKILL, and how much of its output is kept
 * for the log (the rest is read and counted). */
#define RFTP_DEFAULT_TARGET_TIMEOUT 60
#define RFTP_TARGET_TIMEOUT_MAX     86400
#define RFTP_EXEC_KILL_GRACE_MS     2000
/* The exit status by which a command target refuses one event (sysexits.h
 * EX_DATAERR): that job is retried alone, the target goes on. */
#define RFTP_EXEC_EXIT_REFUSED 65
#define RFTP_EXEC_OUTPUT_KEEP  4096
/* Targets that connect (not exec:): seconds a connection idles before
 * TCP keepalive probes (keepalive); 0 = none. A NAT or firewall keeps the
 * flow of a connection that sends them, and one that dropped it anyway
 * is found dead after twice this: below libcurl's 118 s limit on reusing
 * an idle connection, so before a push sends on it and waits out the
 * 60 s response timeout. */
#define RFTP_DEFAULT_TARGET_KEEPALIVE 30
#define RFTP_TARGET_KEEPALIVE_MAX     3600
/* Targets that connect: a transfer slower than this many bytes a second
 * for the target's whole timeout fails the attempt (min_rate). libcurl's
 * low speed limit was 1 B/s: a target that read a byte a second held a
 * worker for as long as the file lasted. 1 KiB/s lets any real link
 * through; 0 leaves only a stall (no byte at all) failing. */
#define RFTP_DEFAULT_TARGET_MIN_RATE 1024
#define RFTP_TARGET_MIN_RATE_MAX     (1ull << 30)
/* A transfer slower than this over a whole data_timeout window is cut
 * (slow-loris on the data channel): 64 B/s lets any real link through. */
#define RFTP_DEFAULT_DATA_MIN_RATE 64
/* After an upload's data FIN the control connection is watched for a
 * dying client's FIN (transfer.c): for this floor plus the connection's
 * minimum RTT, or upload_close_grace_ms (also the cap) while the host's
 * CPUs are all busy. The floor covers the gap between a killed process's
 * two FINs when that process is not preempted, as it reaches us through
 * a relay that terminates TCP too (finwatch.c). */
#define RFTP_DEFAULT_UPLOAD_CLOSE_GRACE_MS 5
#define RFTP_UPLOAD_FIN_FLOOR_US           1000
/* Most listening sockets (listen = a, b). */
#define RFTP_LISTEN_MAX 8
/* Most users in users.ini and mirror names per user. */
#define RFTP_USERS_MAX        100000
#define RFTP_MIRROR_NAMES_MAX 32
#define RFTP_NAME_MAX         64
/* Downstream targets in one config. */
#define RFTP_TARGETS_MAX 32
/* S3's longest object key, in bytes (UTF-8). */
#define RFTP_S3_KEY_MAX 1024
/* Kinds of target: ftp(s), sftp, exec:, webhooks, s3 (config_target.c). */
#define RFTP_TARGET_KINDS 5
/* Webhook targets (mirror/transport_hook.c): an answer's body is kept up
 * to KEEP bytes for the log and read up to MAX (more fails the attempt);
 * a JSON event (two escaped paths and their base64) and a file's URL
 * (each byte of a path percent-encoded) fit in these. */
#define RFTP_HOOK_REPLY_KEEP 200
#define RFTP_HOOK_REPLY_MAX  (1024 * 1024)
#define RFTP_HOOK_BODY_MAX   (128 * 1024)
#define RFTP_HOOK_URL_MAX    (3 * RFTP_PATH_MAX + 2048)
/* The admin HTTP listener (src/admin/): a request body (POST
 * /api/retry takes a target name) beyond this is 413; each connection's
 * memory for its request line and headers (libmicrohttpd answers 431 past
 * it); connections per client address (a fraction of max_connections,
 * at least 1, so one address cannot take them all); the largest response
 * we build; and the largest PEM file [admin] cert/key may name. */
#define RFTP_ADMIN_BODY_MAX 8192
/* A body over RFTP_ADMIN_BODY_MAX is read (and dropped) up to this, for its
 * 413; past it the connection is closed. */
#define RFTP_ADMIN_BODY_DROP    (1024 * 1024)
#define RFTP_ADMIN_CONN_MEMORY  (32 * 1024)
#define RFTP_ADMIN_PER_IP_SHARE 4
#define RFTP_ADMIN_RESPONSE_MAX (32 * 1024 * 1024)
#define RFTP_ADMIN_PEM_MAX      (1024 * 1024)
/* An admin request whose query has more parameters than this, or whose
 * request target is longer when it has a query, is answered 414 before
 * libmicrohttpd parses the query: 0.9.75 keeps each parameter in the
 * connection's memory (RFTP_ADMIN_CONN_MEMORY) and, when that runs out
 * there, answers nothing and holds the connection until the timeout. The
 * API takes at most a few parameters. */
#define RFTP_ADMIN_QUERY_PARAMS_MAX 64
#define RFTP_ADMIN_QUERY_URI_MAX    8192
/* Such a refused connection is shut down this long after its answer,
 * whatever it still sends: time for the client to read the 414. */
#define RFTP_ADMIN_REFUSED_MS 1000
/* "https://" + a listen address as written (80) + ":65535/". */
#define RFTP_ADMIN_URL_MAX 128
/* An [admin] token shorter than this is a warning of check and of the
 * start: the listener answers thousands of wrong tokens a second (4,000 on
 * one keep-alive connection of a loopback test), with no ban, so a short or
 * chosen token can be guessed. 16 random characters cannot. */
#define RFTP_ADMIN_TOKEN_SHORT 16
/* How long the admin listener's queue connection waits for another
 * program's write lock (SQLite busy timeout): its one thread serves every
 * request, so a retry waiting SQLite's usual 10 s held /metrics as long. */
#define RFTP_ADMIN_QUEUE_BUSY_MS 1000

#endif
