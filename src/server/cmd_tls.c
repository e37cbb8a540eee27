/*
 * cmd_tls.c - AUTH, PBSZ, PROT, CCC: FTP security extensions (RFC 2228)
 * with TLS (RFC 4217).
 *
 * AUTH TLS upgrades the control connection in place; anything the client
 * pipelined behind AUTH in clear text is thrown away, or a man in the
 * middle could slip commands in ahead of the handshake (the STARTTLS
 * injection class of bugs), and a login or USER from before it must be
 * sent again (RFC 2228 section 3). CCC is refused: dropping back to clear
 * text would let anyone on the path rewrite the rest of the session.
 */
#include "common/log.h"
#include "server/cmd_handlers.h"
#include "server/server.h"
#include "server/session.h"
#include "server/reply.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

HANDLER(cmd_auth)
{
	if (s->srv->tls == NULL) {
		reply(s, 502, "TLS is not configured on this server.");
		return;
	}
	/* RFC 4217 4: TLS is the mechanism; "SSL" and "TLS-C" are older
	 * spellings clients still send for the same thing. */
	if (strcasecmp(arg, "TLS") != 0 && strcasecmp(arg, "TLS-C") != 0 &&
	    strcasecmp(arg, "SSL") != 0) {
		session_bad_command(s, "argument", "AUTH", "not TLS");
		reply(s, 504, "AUTH %s not supported; use AUTH TLS.", arg);
		return;
	}
	if (s->ctrl_ssl != NULL) {
		reply(s, 503, "Already using TLS.");
		return;
	}
	reply(s, 234, "AUTH %s successful.", arg);
	/* Nothing sent in clear after AUTH may count as a command. */
	s->inlen = 0;
	s->discarding = 0;
	if (session_start_tls(s) < 0) {
		session_enter_state(s, SESS_CLOSING);
		return;
	}
	/* RFC 4217 13: a (re)negotiated AUTH resets the data protection. */
	s->pbsz = 0;
	s->prot_p = 0;
	/*
	 * RFC 2228 section 3: after AUTH the server "must also require that
	 * the user reauthorize" (USER and PASS again). A login made in clear
	 * went on inside TLS, and a USER sent in clear (by anyone on the
	 * path) was the one the encrypted PASS logged into. Logged out as by
	 * REIN, with a fresh login_timeout for the login this asks for.
	 */
	if (s->state != SESS_GREETED) {
		slog(s, LOG_INFO,
		    "%s in clear text before AUTH: logged out, the client "
		    "must send USER and PASS again (RFC 2228)",
		    s->state == SESS_LOGGED_IN ? "logged in" : "USER sent");
		session_dc_reset(s);
		session_logout(s);
		clock_gettime(CLOCK_MONOTONIC, &s->started);
	}
}

HANDLER(cmd_pbsz)
{
	if (s->ctrl_ssl == NULL) {
		reply(s, 503, "PBSZ needs AUTH TLS first.");
		return;
	}
	/* RFC 2228: the argument is a decimal integer (32 bits). */
	if (arg[strspn(arg, "0123456789")] != '\0' || strlen(arg) > 10 ||
	    strtoull(arg, NULL, 10) > UINT32_MAX) {
		reply(s, 501, "PBSZ takes a decimal number.");
		return;
	}
	/* RFC 4217 8: TLS is a stream, the only size is 0. Any other value
	 * is answered with the size we use. */
	s->pbsz = 1;
	if (strcmp(arg, "0") != 0)
		reply(s, 200, "PBSZ=0");
	else
		reply(s, 200, "PBSZ 0 successful.");
}

HANDLER(cmd_prot)
{
	if (s->ctrl_ssl == NULL || !s->pbsz) {
		reply(s, 503, "PROT needs AUTH TLS and PBSZ 0 first.");
		return;
	}
	if (strcasecmp(arg, "P") == 0) {
		s->prot_p = 1;
		reply(s, 200, "Data connections will be protected (PROT P).");
	} else if (strcasecmp(arg, "C") == 0) {
		if (session_requires_data_tls(s)) {
			session_log_capped(s, &s->perm_refused, LOG_INFO,
			    "permission refusals",
			    "PROT C refused: require_data_tls");
			reply(s, 534,
			    "PROT C refused: this server requires protected "
			    "data connections (require_data_tls).");
			return;
		}
		s->prot_p = 0;
		reply(s, 200, "Data connections in clear text (PROT C).");
	} else if (strcasecmp(arg, "S") == 0 || strcasecmp(arg, "E") == 0) {
		reply(s, 536, "PROT %s is not supported by TLS; use P or C.",
		    arg);
	} else {
		session_bad_command(s, "argument", "PROT", "not P or C");
		reply(s, 504, "Unknown protection level %s.", arg);
	}
}

HANDLER(cmd_ccc)
{
	(void)arg;
	if (s->ctrl_ssl == NULL) {
		reply(s, 533, "The control connection is not protected.");
		return;
	}
	session_log_capped(
	    s, &s->bad_cmds, LOG_INFO, "refused commands", "CCC refused");
	reply(s, 534, "CCC refused: the control connection stays encrypted.");
}

void
feat_tls(struct session *s, struct buf *line)
{
	if (s->srv->tls != NULL)
		buf_adds(line, "AUTH TLS");
}

void
feat_pbsz(struct session *s, struct buf *line)
{
	if (s->srv->tls != NULL)
		buf_adds(line, "PBSZ");
}

void
feat_prot(struct session *s, struct buf *line)
{
	if (s->srv->tls != NULL)
		buf_adds(line, "PROT");
}
