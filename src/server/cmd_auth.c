/*
 * cmd_auth.c - USER, PASS, REIN, QUIT: getting into and out of a session.
 *
 * A failed login is answered only after login_fail_delay_ms, and an unknown
 * user costs the same argon2id work as a wrong password, so neither timing
 * nor reply text tells which names exist. The hash work runs in this
 * session's thread, bounded by users_verify's semaphore, so it never stalls
 * other sessions' transfers. A password that passed argon2id within
 * password_cache_ttl is accepted by the user store's cache instead
 * (userdb_verify); a failure never comes from the cache alone.
 */
#include "common/stats.h"
#include "common/log.h"
#include "common/users.h"
#include "server/ban.h"
#include "server/cmd_handlers.h"
#include "common/fsgate.h"
#include "common/syserr.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/session.h"
#include "server/reply.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Room for a USER name as log lines quote it (quoted_name): each byte
 * escaped at worst, and a cut longer name's "...". */
#define QUOTED_NAME_MAX (2 * RFTP_USER_MAX + 8)

/*
 * name as log lines show it between single quotes, in out (outlen
 * bytes): a quote or a backslash gets a backslash, so a name holding
 * "': bad password" cannot end the quotes and make "login failed for
 * 'alice': bad password': unknown user" read as alice's failure. A name
 * longer than RFTP_USER_MAX (refused anyway) is cut, ending in "...".
 * Control bytes are the log's to replace (log_defang). Returns out.
 */
static const char *
quoted_name(const char *name, char *out, size_t outlen)
{
	size_t o = 0, i;

	for (i = 0; name[i] != '\0' && i < RFTP_USER_MAX && o + 3 < outlen;
	     i++) {
		if (name[i] == '\'' || name[i] == '\\')
			out[o++] = '\\';
		out[o++] = name[i];
	}
	if (name[i] != '\0' && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static int
is_anonymous_name(const char *name)
{
	return strcmp(name, "anonymous") == 0 || strcmp(name, "ftp") == 0;
}

HANDLER(cmd_user)
{
	if (s->state == SESS_LOGGED_IN) {
		reply(s, 530, "Already logged in; use REIN to change user.");
		return;
	}
	if (s->ctrl_ssl == NULL) {
		/* Refused before the password crosses the wire in clear. A
		 * per-user override shows that this name exists and what it
		 * needs; keeping its password off the wire is worth more. */
		struct user u;
		int anon = s->srv->cfg.anonymous && is_anonymous_name(arg);
		int found = strlen(arg) <= RFTP_USER_MAX &&
		    userdb_lookup(s->srv->users,
		        anon ? USERS_ANON_SECTION : arg, &u) == 0;

		if (session_requires_login_tls(s, found ? &u : NULL)) {
			/* USER costs no delay: a client that pipelined
			 * thousands wrote megabytes of these a second. */
			char q[QUOTED_NAME_MAX];
			const char *nocert = s->srv->tls == NULL ?
			    " by users.ini, but [tls] has no cert: this user "
			    "cannot log in" :
			    "";

			quoted_name(arg, q, sizeof(q));
			if (s->srv->tls == NULL &&
			    atomic_exchange(&s->srv->nocert_said, 1) == 0) {
				/* A configuration error, not hostile input:
				 * on the strangers' budget, a stranger's flood
				 * left it only counted. Said once (the start
				 * and a reload refuse such users, so only a
				 * server made without the engine's checks
				 * gets here); the session's cap counts it. */
				slog(s, LOG_WARN,
				    "clear-text login refused for '%s': TLS "
				    "required%s",
				    q, nocert);
				s->tls_refused++;
			} else {
				session_log_capped(s, &s->tls_refused, LOG_INFO,
				    "clear-text logins",
				    "clear-text login refused for '%s': TLS "
				    "required%s",
				    q, nocert);
			}
			reply(s, 530,
			    "TLS required (require_login_tls): send AUTH TLS "
			    "before USER.");
			return;
		}
	}
	/* An over-long name is shown truncated, and PASS fails like any
	 * unknown user, with the same delay: the truncated form may be a
	 * real user's name, which this client never named. */
	snprintf(s->pending_user, sizeof(s->pending_user), "%s", arg);
	s->pending_overlong = strlen(arg) > RFTP_USER_MAX;
	session_enter_state(s, SESS_NEED_PASS);
	if (s->srv->cfg.anonymous && is_anonymous_name(arg))
		reply(s, 331,
		    "Anonymous login ok, send your e-mail as "
		    "password.");
	else
		reply(s, 331, "Password required for %s.", s->pending_user);
}

/* The answer to a PASS refused while the server shuts down. */
static void
login_stopped(struct session *s)
{
	reply(s, 421, "Server shutting down.");
	session_enter_state(s, SESS_CLOSING);
}

/* Waits login_fail_delay_ms before a login's refusal; -1 (answered
 * already) if the server shuts down meanwhile (a flood of failed logins
 * held SIGTERM behind their delays). */
static int
login_delay(struct session *s)
{
	struct pollfd pf = { s->srv->stop_fd, POLLIN, 0 };
	uint64_t ms = s->srv->cfg.login_fail_delay_ms;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int left = (int)ms - (int)session_ms_since(&t0);
		int r;

		if (left <= 0)
			return 0;
		r = poll(&pf, 1, left);
		if (r > 0) {
			login_stopped(s);
			return -1;
		}
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

/* A failed login, counted already (banned: the count banned the address),
 * answered after login_fail_delay_ms. */
static void
login_failed(struct session *s, const char *why, int banned)
{
	char q[QUOTED_NAME_MAX];

	slog(s, LOG_INFO, "login failed for '%s': %s",
	    quoted_name(s->pending_user, q, sizeof(q)), why);
	stats_add(s->srv->stats, STAT_LOGINS_FAILED, 1);
	if (login_delay(s) < 0)
		return;
	session_enter_state(s, SESS_GREETED);
	if (banned) {
		int v6 = s->peer.ss_family == AF_INET6 &&
		    !IN6_IS_ADDR_V4MAPPED(
		        &((struct sockaddr_in6 *)&s->peer)->sin6_addr);

		slog(s, LOG_WARN,
		    "%s banned for %llu s after %llu failed logins",
		    v6 ? "address (its whole /64)" : "address",
		    (unsigned long long)s->srv->cfg.login_ban_time,
		    (unsigned long long)s->srv->cfg.login_fail_max);
		reply(s, 421,
		    "Too many failed logins from your address; "
		    "try again later.");
		session_enter_state(s, SESS_CLOSING);
		return;
	}
	reply(s, 530, "Login incorrect.");
}

/* Whether a home that could not be opened (err) may open on a later try:
 * the server out of descriptors or memory, its disk full or failing
 * (creating a home at first login). A missing or forbidden path is not. */
static int
home_unavailable_for_now(int err)
{
	return syserr_lacking(err) || err == ENOSPC || err == EDQUOT ||
	    err == EIO || err == EAGAIN;
}

/*
 * The record a password was checked against may be older than the file
 * by the check's end (argon2id takes a while, and waits for a slot): the
 * login then joined the account with the old quota, which every session
 * of the user then had (an admin's cut from 4M to 64K undone by a login
 * begun before it; found from outside). So the user is looked up again,
 * and the newer record is the login's if its password is the same hash;
 * a new hash is checked once more. 1 if *u is now the user to log in as,
 * 0 if not (removed meanwhile, or the new password differs).
 */
static int
still_the_user(struct session *s, struct user *u, const char *password,
    enum users_verdict *verdict)
{
	struct user now;

	for (int round = 0; round < 3; round++) {
		if (userdb_lookup(s->srv->users, u->name, &now) < 0)
			return 0;
		if (strcmp(now.hash, u->hash) == 0) {
			*u = now;
			return 1;
		}
		*u = now;
		*verdict = userdb_verify(
		    s->srv->users, u->name, u, password, s->srv->stop_fd);
		if (*verdict != USERS_HASHED && *verdict != USERS_CACHED)
			return 0;
	}
	return 0;
}

HANDLER(cmd_pass)
{
	struct user u;
	int found, ok, begun, banned, verify_err = 0;
	enum users_verdict verdict = USERS_BAD;
	enum account_err aerr;
	enum server_auth_verdict hook = SERVER_AUTH_PASS;

	if (bans_check(s->srv->bans, &s->peer)) {
		/* Banned while this connection was open: no more guesses. */
		reply(s, 421,
		    "Too many failed logins from your address; try "
		    "again later.");
		session_enter_state(s, SESS_CLOSING);
		return;
	}
	if (s->state != SESS_NEED_PASS) {
		reply(s, 503,
		    s->state == SESS_LOGGED_IN ? "Already logged in." :
		                                 "Login with USER first.");
		return;
	}
	/* Checks in flight count against login_fail_max with the failures
	 * (ban.h): many connections sending their passwords at once wait
	 * their turn instead of all being tried. */
	begun = bans_begin(s->srv->bans, &s->peer, s->srv->stop_fd);
	if (begun < 0) {
		login_stopped(s);
		return;
	}
	if (begun > 0) {
		reply(s, 421,
		    "Too many failed logins from your address; try "
		    "again later.");
		session_enter_state(s, SESS_CLOSING);
		return;
	}
	if (s->srv->auth.fn != NULL && !s->pending_overlong)
		hook = s->srv->auth.fn(s->srv->auth.ctx, s->pending_user, arg,
		    s->peer_ip, s->ctrl_ssl != NULL, &u);
	if (hook == SERVER_AUTH_ALLOW) {
		/* The application's own user store said yes: its grant is
		 * the user, and the rules below (TLS, home, max_sessions)
		 * apply to it as to any other. */
		found = ok = 1;
	} else if (hook == SERVER_AUTH_DENY) {
		found = 1;
		ok = 0;
	} else if (s->srv->cfg.anonymous &&
	    is_anonymous_name(s->pending_user)) {
		found =
		    userdb_lookup(s->srv->users, USERS_ANON_SECTION, &u) == 0;
		ok = found;
	} else {
		found = !s->pending_overlong &&
		    userdb_lookup(s->srv->users, s->pending_user, &u) == 0;
		verdict = userdb_verify(s->srv->users, s->pending_user,
		    found ? &u : NULL, arg, s->srv->stop_fd);
		verify_err = errno;
		ok = verdict == USERS_HASHED || verdict == USERS_CACHED;
		if (ok)
			ok = still_the_user(s, &u, arg, &verdict);
	}
	/* No answer (a stop, or argon2id without its memory) is no failed
	 * guess: not counted towards a ban. */
	banned = bans_end(s->srv->bans, &s->peer,
	    !ok && verdict != USERS_STOPPED && verdict != USERS_UNCHECKED);
	if (verdict == USERS_STOPPED) {
		login_stopped(s);
		return;
	}
	if (verdict == USERS_UNCHECKED) {
		char q[QUOTED_NAME_MAX];

		slog(s, LOG_ERR,
		    "cannot check the password of '%s': %s (argon2id needs "
		    "64 MiB a check; see the process's memory limit)",
		    quoted_name(s->pending_user, q, sizeof(q)),
		    strerror(verify_err));
		stats_add(s->srv->stats, STAT_LOGINS_FAILED, 1);
		/* Not counted towards a ban, but no faster than a failure:
		 * a client cannot make it a flood of checks and log lines
		 * (found by a review). */
		if (login_delay(s) < 0)
			return;
		reply(s, 421,
		    "Cannot check passwords now (server out of memory); "
		    "try again later.");
		session_enter_state(s, SESS_CLOSING);
		return;
	}
	if (!ok) {
		login_failed(s,
		    hook == SERVER_AUTH_DENY ?
		        "refused by the authenticate callback" :
		        found ? "bad password" :
		                "unknown user",
		    banned);
		return;
	}
	if (s->ctrl_ssl == NULL && session_requires_login_tls(s, &u)) {
		/* users.ini changed since USER: the rule of the user found
		 * now is what counts. */
		login_failed(s, "TLS required (users.ini changed since USER)",
		    bans_fail(s->srv->bans, &s->peer));
		return;
	}
	s->root_fd = fs_open_root(u.home, 1);
	if (s->root_fd < 0) {
		int err = errno;

		slog(s, LOG_ERR, "cannot open home %s of %s: %s", u.home,
		    u.name, strerror(err));
		session_enter_state(s, SESS_GREETED);
		stats_add(s->srv->stats, STAT_LOGINS_FAILED, 1);
		if (home_unavailable_for_now(err)) {
			/* A 530 told a client out of descriptors or disk
			 * that its password was wrong (found by fault
			 * injection): RFC 959's 421 says try again. */
			reply(s, 421,
			    "Cannot open your home folder now (%s); try again "
			    "later.",
			    strerror(err));
			session_enter_state(s, SESS_CLOSING);
			return;
		}
		reply(s, 530, "Login incorrect: home directory unavailable.");
		return;
	}
	aerr = account_join(s->srv->accounts, u.name, u.max_sessions,
	    u.quota_bytes, u.quota_files, s->root_fd, &s->account);
	if (aerr != ACCOUNT_OK) {
		close(s->root_fd);
		s->root_fd = -1;
		s->account = NULL;
		slog(s, LOG_INFO, "login of %s refused: %s", u.name,
		    aerr == ACCOUNT_TOO_MANY ? "max_sessions reached" :
		                               "out of memory");
		stats_add(s->srv->stats, STAT_LOGINS_FAILED, 1);
		reply(s, 421, "Too many sessions for this user, closing.");
		session_enter_state(s, SESS_CLOSING);
		return;
	}
	s->user = u;
	s->user_in_db = hook != SERVER_AUTH_ALLOW;
	s->user_gen = 0;
	session_enter_state(s, SESS_LOGGED_IN);
	session_reset_cwd(s);
	/* An anonymous login's line on its connection's budget: anyone
	 * may log in anonymously, in a loop. */
	if (session_login_logged(s))
		slog(s, LOG_INFO, "logged in as %s", u.name);
	if (verdict == USERS_CACHED)
		slog(s, LOG_DEBUG,
		    "password of %s matched the password cache (argon2id "
		    "skipped)",
		    u.name);
	stats_add(s->srv->stats, STAT_LOGINS_OK, 1);
	reply(s, 230, "Login successful.");
}

HANDLER(cmd_rein)
{
	int was_in = s->state == SESS_LOGGED_IN;

	(void)arg;
	session_dc_reset(s);
	session_logout(s);
	/* RFC 959: "All parameters are reset to the default settings": the
	 * next user must not inherit TYPE A (its uploads converted), EPSV
	 * ALL, OPTS MLST or HASH. The TLS state stays (RFC 4217 leaves it
	 * to the server; dropping it would expose the next login). */
	s->ascii = 0;
	s->epsv_all = 0;
	s->mlst_facts = FACT_ALL;
	s->hash_algo = HASH_SHA256;
	/* A new login gets its own login_timeout, but REIN before any login
	 * must not buy a never-logging-in client more time. */
	if (was_in)
		clock_gettime(CLOCK_MONOTONIC, &s->started);
	reply(s, 220, "Service ready for new user.");
}

HANDLER(cmd_quit)
{
	(void)arg;
	reply(s, 221, "Goodbye.");
	session_enter_state(s, SESS_CLOSING);
}
