/*
 * ftpcmds.c - see ftpcmds.h. Paths in QUOTE commands start from the login
 * folder, like an FTP URL path (RFC 1738 section 3.2.2), because libcurl
 * sends QUOTE before it changes folder.
 */
#include "mirror/ftpcmds.h"

#include "mirror/ftpreply.h"
#include "mirror/rpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A command list holds a few commands, or one mkdir per folder level. */
#define FTPC_CMDS_MAX (1024u * 1024u)

void
ftpc_init(struct ftpc *c, int sftp)
{
	memset(c, 0, sizeof(*c));
	c->sftp = sftp;
	c->hash_method = -1;
	c->time_method = sftp ? TM_SFTP : TM_UNKNOWN;
	c->entry[0] = '/';
	c->entry_ok = 1;
}

void
ftpc_set_entry(struct ftpc *c, const char *entry)
{
	int n;

	if (c->sftp || entry == NULL)
		return;
	n = snprintf(c->entry, sizeof(c->entry), "%s", entry);
	/* A cut login folder would put every name elsewhere. */
	c->entry_ok = n >= 0 && (size_t)n < sizeof(c->entry);
	c->entry_known = 1;
}

const char *
ftpc_quote_path(struct ftpc *c, const char *path, int slot)
{
	if (c->sftp)
		return path;
	if (!c->entry_ok || !c->entry_known)
		return NULL;
	/* ftpc_path_fits() keeps entry + path well inside qbuf; the check
	 * stays as the last line of defence against a cut name. */
	if (rpath_from_entry(
	        c->qbuf[slot], sizeof(c->qbuf[slot]), c->entry, path) < 0)
		return NULL;
	return c->qbuf[slot];
}

int
ftpc_path_fits(const struct ftpc *c, const char *rpath, struct push_result *res)
{
	size_t need = rpath_need(c->entry, c->base, rpath);

	if (need < RFTP_PATH_MAX)
		return 0;
	/* No retry changes a length: parked at once (push_result.blocked).
	 * Retried, the job failed every backoff for ever (max_attempts 0),
	 * and the target was shown failing for one path (found from
	 * outside: a 4,069-byte home path under an sftp target's folder). */
	res->blocked = 1;
	snprintf(res->error, sizeof(res->error),
	    "path too long for the target (%zu bytes with the target's "
	    "folders; at most %d): no retry changes that; shorten the path "
	    "on the home, or the target's folder in its url",
	    need, RFTP_PATH_MAX - 1);
	return -1;
}

int
ftpc_join(char *out, size_t outlen, const char *a, const char *b,
    struct push_result *res)
{
	if (rpath_join(out, outlen, a, b) == 0)
		return 0;
	snprintf(res->error, sizeof(res->error), "path too long");
	return -1;
}

int
ftpc_tmp_name(const struct ftpc *c, const char *rpath, int64_t tag, char *out,
    size_t outlen, struct push_result *res)
{
	if (rpath_tmp_name(out, outlen, c->base, rpath, tag) == 0)
		return 0;
	snprintf(res->error, sizeof(res->error), "path too long");
	return -1;
}

void
ftpc_cmds_init(struct buf *cmds)
{
	buf_init(cmds, FTPC_CMDS_MAX);
}

int
ftpc_add(struct ftpc *c, struct buf *cmds, const char *verb, const char *a,
    const char *b, struct push_result *res)
{
	enum quote_rc rc = QUOTE_TOO_LONG;

	if (a != NULL) /* NULL: ftpc_quote_path could not build it */
		rc = quote_command(c->cmd, sizeof(c->cmd),
		    c->sftp ? QUOTE_SFTP : QUOTE_FTP, verb, a, b);
	if (rc != QUOTE_OK) {
		snprintf(res->error, sizeof(res->error), "%s: %s", verb,
		    quote_strerror(rc));
		return -1;
	}
	if (buf_add(cmds, c->cmd, strlen(c->cmd) + 1) < 0) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	return 0;
}

/* A command "verb a [b]" of a request. */
struct cmd {
	const char *verb, *a, *b;
};

/* One request of the commands one and, when its verb is set, two (an FTP
 * rename is RNFR and RNTO on the same connection). */
static int
ask_cmds(struct ftpc *c, const char *what, struct cmd one, struct cmd two,
    struct push_result *res)
{
	struct buf cmds;
	int rc = -1;

	ftpc_cmds_init(&cmds);
	if (ftpc_add(c, &cmds, one.verb, one.a, one.b, res) == 0 &&
	    (two.verb == NULL ||
	        ftpc_add(c, &cmds, two.verb, two.a, two.b, res) == 0))
		rc = c->ask(c->ctx, &cmds, what, res);
	buf_free(&cmds);
	return rc;
}

int
ftpc_publish(struct ftpc *c, const char *rpath, int64_t tag, int64_t size,
    struct push_result *res)
{
	return ftpc_publish_from(c, rpath, tag, rpath, size, res);
}

/* Asks name's SIZE (in binary first if binary): what
 * ftpreply_size_answer makes of the answer (1 a size in *n, 0 none, -1
 * not a size), or -2 with res->error if it cannot be asked. */
static int
ask_size(struct ftpc *c, int binary, const char *name, uint64_t *n, char *said,
    size_t saidlen, struct push_result *res)
{
	struct push_result pres;
	struct buf cmds;
	int r;

	memset(&pres, 0, sizeof(pres));
	ftpc_cmds_init(&cmds);
	r = (!binary || ftpc_add(c, &cmds, "*TYPE", "I", NULL, &pres) == 0) &&
	        ftpc_add(c, &cmds, "*SIZE", ftpc_quote_path(c, name, 1), NULL,
	            &pres) == 0 ?
	    c->ask(c->ctx, &cmds, "rename", &pres) :
	    -1;
	buf_free(&cmds);
	if (r < 0) {
		memcpy(res->error, pres.error, sizeof(res->error));
		return -2;
	}
	return ftpreply_size_answer(c->replies(c->ctx), n, said, saidlen);
}

/*
 * Whether the final name holds size bytes, after a publish whose request
 * ended with "*SIZE final": a 250 to RNTO was taken as proof, and a
 * target that answered so and renamed nothing kept only the temporary
 * copy while the push was recorded delivered (found from outside). A
 * refused SIZE is asked once more after TYPE I (a fresh connection may
 * be in ASCII, where some servers refuse SIZE). A final name gone with
 * the temporary one is a target that takes each file away once it has
 * its name (an ingest drop box: what the atomic publish is for): the
 * push is delivered, not failed and sent again for ever. 0, or -1 with
 * res.
 */
static int
final_holds(struct ftpc *c, const char *tmp, const char *final, int64_t size,
    struct push_result *res)
{
	char said[160], tsaid[160];
	uint64_t n = 0, tn = 0;
	int r =
	    ftpreply_size_answer(c->replies(c->ctx), &n, said, sizeof(said));

	if (r == 0)
		r = ask_size(c, 1, final, &n, said, sizeof(said), res);
	if (r == 0) {
		int there = ask_size(c, 0, tmp, &tn, tsaid, sizeof(tsaid), res);

		if (there == -2)
			return -1;
		if (there <= 0)
			return 0;
	}
	if (r == -2)
		return -1;
	if (r > 0 && n == (uint64_t)size)
		return 0;
	res->mismatch = 1;
	if (r > 0)
		snprintf(res->error, sizeof(res->error),
		    "rename: the final name holds %llu bytes after the rename, "
		    "expected %lld (the target answered RNTO and did not "
		    "rename the copy?)",
		    (unsigned long long)n, (long long)size);
	else if (r < 0)
		snprintf(res->error, sizeof(res->error),
		    "rename: the target's SIZE answer for the final name is "
		    "not a size (the target said: %s)",
		    said);
	else
		snprintf(res->error, sizeof(res->error),
		    "rename: the copy is still under its temporary name "
		    "(%llu bytes) after the target answered RNTO",
		    (unsigned long long)tn);
	return -1;
}

int
ftpc_publish_from(struct ftpc *c, const char *from, int64_t tag,
    const char *rpath, int64_t size, struct push_result *res)
{
	char tmp[RFTP_PATH_MAX + 64], final[RFTP_PATH_MAX + 64];
	struct buf cmds;
	int rc = -1;

	if (ftpc_tmp_name(c, from, tag, tmp, sizeof(tmp), res) < 0 ||
	    ftpc_join(final, sizeof(final), c->base, rpath, res) < 0)
		return -1;
	/* SFTP v3 rename (all OpenSSH offers through libcurl) never replaces:
	 * the older copy is removed first. The final name is briefly absent,
	 * never partial. FTP's RNTO replaces it. libcurl's SFTP commands
	 * have no size to ask. */
	if (c->sftp) {
		rc = ask_cmds(c, "rename", (struct cmd){ "*rm", final, NULL },
		    (struct cmd){ "rename", tmp, final }, res);
		res->at_final_name = rc < 0;
		return rc;
	}
	/* The final name's size is asked in the rename's own request: no
	 * request more a push, one command ('*': a refusal is read here). */
	ftpc_cmds_init(&cmds);
	if (ftpc_add(c, &cmds, "RNFR", ftpc_quote_path(c, tmp, 0), NULL, res) ==
	        0 &&
	    ftpc_add(c, &cmds, "RNTO", ftpc_quote_path(c, final, 1), NULL,
	        res) == 0 &&
	    (size < 0 ||
	        ftpc_add(c, &cmds, "*SIZE", ftpc_quote_path(c, final, 1), NULL,
	            res) == 0))
		rc = c->ask(c->ctx, &cmds, "rename", res);
	buf_free(&cmds);
	res->at_final_name = rc < 0;
	if (rc < 0 || size < 0)
		return rc;
	return final_holds(c, tmp, final, size, res);
}

/* What every call but a push does first: res cleared, rpath checked and
 * put under the URL folder (full, FTPC_FULL_MAX bytes), logged in. */
static int
begin(struct ftpc *c, const char *rpath, char *full, struct push_result *res)
{
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (ftpc_path_fits(c, rpath, res) < 0 ||
	    ftpc_join(full, FTPC_FULL_MAX, c->base, rpath, res) < 0 ||
	    c->login(c->ctx, res) < 0)
		return -1;
	return 0;
}

static const struct cmd none = { NULL, NULL, NULL };

/* One command on rpath that may fail ('*'): what is not there is as
 * removed as can be; a dead connection still fails the request. */
static int
remove_one(struct ftpc *c, const char *rpath, const char *what,
    const char *sftp_verb, const char *ftp_verb, struct push_result *res)
{
	char full[FTPC_FULL_MAX];

	if (begin(c, rpath, full, res) < 0)
		return -1;
	return ask_cmds(c, what,
	    (struct cmd){ c->sftp ? sftp_verb : ftp_verb,
	        ftpc_quote_path(c, full, 0), NULL },
	    none, res);
}

/* The levels gone() walks up at most. */
#define GONE_LEVELS_MAX 32

/*
 * Whether the target says the name full is not there, after the probe's
 * replies: nothing kept, the last "no" a 550 (RFC 3659: SIZE and MLST of
 * a name that does not exist), and, asked next, MLST of its folder
 * answers with a folder's entry: a 550 also means "no access" (an account
 * that may not list; found in review), and only a folder the target
 * describes shows that the 550 below it is an absence. A folder answered
 * 550 too may be gone as well (someone removed it on the target): its own
 * folder is asked, and so on up to the URL folder. A probe a target could
 * not answer (no
 * MLST: 500) tells nothing, and the removal is asked again as before.
 */
static int
gone(struct ftpc *c, const char *full, const char *what,
    int (*is_kept)(const char *replies))
{
	char no[8], dir[FTPC_FULL_MAX];
	size_t len = strlen(full);

	if (is_kept(c->replies(c->ctx)) ||
	    !ftpreply_last_no(c->replies(c->ctx), no, sizeof(no)) ||
	    strncmp(no, "550", 3) != 0 || len >= sizeof(dir))
		return 0;
	memcpy(dir, full, len + 1);
	for (int level = 0; level < GONE_LEVELS_MAX; level++) {
		char *slash = strrchr(dir, '/');
		struct push_result pres;
		struct buf cmds;
		int asked;

		if (slash == NULL || strcmp(dir, "/") == 0)
			return 0; /* nothing up there answered as a folder */
		slash[slash == dir] = '\0'; /* "/f" is in "/" */
		/* Up to the URL folder: what is above is not the mirror's. */
		if (strlen(dir) < strlen(c->base))
			return 0;
		memset(&pres, 0, sizeof(pres));
		ftpc_cmds_init(&cmds);
		asked = ftpc_add(c, &cmds, "*MLST", ftpc_quote_path(c, dir, 0),
		            NULL, &pres) == 0 &&
		    c->ask(c->ctx, &cmds, what, &pres) == 0;
		buf_free(&cmds);
		if (!asked)
			return 0;
		if (ftpreply_mlst_is_dir(c->replies(c->ctx)))
			return 1;
		if (!ftpreply_last_no(c->replies(c->ctx), no, sizeof(no)) ||
		    strncmp(no, "550", 3) != 0)
			return 0;
	}
	return 0;
}

/*
 * A removal that may fail ('*': what is not there is as removed as can
 * be), then, only where the target said no, whether it still holds the
 * name: a 550 means "not there" and "no" (no permission, a folder holding
 * files the mirror did not put there) alike, and the second was logged as
 * done while the target kept the name (found from outside). probe asks on
 * the same connection; is_kept reads its replies. res->kept set with the
 * target's words. SFTP cannot ask so here: it stays as it was.
 */
static int
remove_asking(struct ftpc *c, const char *rpath, const char *what,
    const char *verb, const struct cmd *probe, size_t nprobe,
    int (*is_kept)(const char *replies), struct push_result *res)
{
	char full[FTPC_FULL_MAX], said[200];
	struct buf cmds;
	struct push_result pres;
	int ok = 1, code = 0, rc = 0, busy;

	if (begin(c, rpath, full, res) < 0 ||
	    ask_cmds(c, what,
	        (struct cmd){ verb, ftpc_quote_path(c, full, 0), NULL }, none,
	        res) < 0)
		return -1;
	/* The request's last reply is the removal's, where nothing was sent
	 * after it (a login folder not named from "/" is reached by a CWD
	 * after the commands: then the question is always asked). */
	if (c->ask_ends_replies) {
		code = ftpreply_last(c->replies(c->ctx), said, sizeof(said));
		if (code < 400)
			return 0;
	} else if (ftpreply_last_no(c->replies(c->ctx), said, sizeof(said))) {
		code = (int)strtol(said, NULL, 10); /* "NNN text" */
	} else {
		snprintf(said, sizeof(said), "no reason given");
	}
	busy = code >= 400 && code < 500;
	memset(&pres, 0, sizeof(pres));
	ftpc_cmds_init(&cmds);
	for (size_t i = 0; ok && i < nprobe; i++)
		ok = ftpc_add(c, &cmds, probe[i].verb,
		         probe[i].a != NULL ? probe[i].a :
		                              ftpc_quote_path(c, full, 0),
		         NULL, &pres) == 0;
	/* A question that could not be built leaves it as before: done. One
	 * the link cut (or a stop) is asked again with the job. */
	if (ok && c->ask(c->ctx, &cmds, what, &pres) < 0) {
		snprintf(res->error, sizeof(res->error), "%s", pres.error);
		rc = -1;
	} else if (busy) {
		/* "Not now" (RFC 959 450: the file is busy): asked again
		 * later, as this path's refusal, never left for good; but a
		 * target may say so for a name it does not have, and that
		 * removal would be asked again for ever, holding back the
		 * user's later jobs on the path: done if the target says
		 * the name is not there. */
		if (!ok || !gone(c, full, what, is_kept)) {
			res->refused = 1;
			res->file_refused = 1;
			snprintf(res->error, sizeof(res->error),
			    "%s: the target said: %s", what, said);
			rc = -1;
		}
	} else if (ok && is_kept(c->replies(c->ctx))) {
		res->kept = 1;
		snprintf(res->error, sizeof(res->error),
		    "%s: the target keeps it (it said: %s)", what, said);
	}
	buf_free(&cmds);
	return rc;
}

/* A file there: SIZE answers (in binary: some servers refuse it in
 * ASCII), and MLST, where the target has it, does not call it a folder
 * (servers built on ftpserverlib before 2024 answered SIZE for one). */
static int
file_kept(const char *replies)
{
	uint64_t size;

	return ftpreply_find_size(replies, &size) &&
	    !ftpreply_mlst_is_dir(replies);
}

int
ftpc_delete(struct ftpc *c, const char *rpath, struct push_result *res)
{
	static const struct cmd probe[] = {
		{ "*TYPE", "I", NULL },
		{ "*SIZE", NULL, NULL },
		{ "*MLST", NULL, NULL },
	};

	if (c->sftp)
		return remove_one(c, rpath, "delete", "*rm", "*DELE", res);
	return remove_asking(
	    c, rpath, "delete", "*DELE", probe, 3, file_kept, res);
}

int
ftpc_rename(
    struct ftpc *c, const char *from, const char *to, struct push_result *res)
{
	char a[FTPC_FULL_MAX], b[FTPC_FULL_MAX];

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (ftpc_path_fits(c, from, res) < 0 ||
	    ftpc_path_fits(c, to, res) < 0 ||
	    ftpc_join(a, sizeof(a), c->base, from, res) < 0 ||
	    ftpc_join(b, sizeof(b), c->base, to, res) < 0 ||
	    c->login(c->ctx, res) < 0)
		return -1;
	if (c->sftp)
		return ask_cmds(
		    c, "rename", (struct cmd){ "rename", a, b }, none, res);
	return ask_cmds(c, "rename",
	    (struct cmd){ "RNFR", ftpc_quote_path(c, a, 0), NULL },
	    (struct cmd){ "RNTO", ftpc_quote_path(c, b, 1), NULL }, res);
}

int
ftpc_rmdir(struct ftpc *c, const char *rpath, struct push_result *res)
{
	/* MLST, not CWD, which would move the connection under libcurl's
	 * feet (transport_curl.c walk_afresh). */
	static const struct cmd probe[] = { { "*MLST", NULL, NULL } };

	if (c->sftp)
		return remove_one(c, rpath, "rmdir", "*rmdir", "*RMD", res);
	return remove_asking(
	    c, rpath, "rmdir", "*RMD", probe, 1, ftpreply_mlst_is_dir, res);
}

int
ftpc_discard(struct ftpc *c, const char *rpath, int64_t tag)
{
	char tmp[RFTP_PATH_MAX + 64], said[200];
	struct push_result res;
	uint64_t size;
	int busy;

	memset(&res, 0, sizeof(res));
	if (ftpc_tmp_name(c, rpath, tag, tmp, sizeof(tmp), &res) < 0)
		return 0; /* such a name was never pushed */
	if (c->login(c->ctx, &res) < 0)
		return -1;
	if (c->sftp)
		return ask_cmds(c, "discard",
		    (struct cmd){ "*rm", ftpc_quote_path(c, tmp, 0), NULL },
		    none, &res);
	if (ask_cmds(c, "discard",
	        (struct cmd){ "DELE", ftpc_quote_path(c, tmp, 0), NULL }, none,
	        &res) == 0)
		return 0;
	if (!res.refused)
		return -1;
	/* "Not now" (RFC 959 450: the file is busy) is no refusal for good:
	 * a copy still there is asked again later (-1), as a delete job's
	 * removal is. It was taken for an account without deletes, and the
	 * copy stayed on the target for good (found from outside). */
	busy = ftpreply_last_no(c->replies(c->ctx), said, sizeof(said)) &&
	    said[0] == '4';
	/* DELE answers 550 for a name that is not there and for a target
	 * that takes no deletes (an upload-only account) alike: SIZE tells
	 * which (in binary: some servers refuse it in ASCII). A copy left
	 * so was said to be removed (found from outside). Only after a
	 * refused DELE: a copy the target writes late, once it sees its
	 * data connection end, is there again after a DELE that worked. */
	if (ask_cmds(c, "discard", (struct cmd){ "*TYPE", "I", NULL },
	        (struct cmd){ "*SIZE", ftpc_quote_path(c, tmp, 0), NULL },
	        &res) < 0)
		return -1;
	if (!ftpreply_find_size(c->replies(c->ctx), &size))
		return 0;
	return busy ? -1 : 1;
}

int
ftpc_digest(struct ftpc *c, const char *qpath, enum hash_algo *algo,
    char hex[HASH_HEX_MAX], struct push_result *res)
{
	/* '*': a target without the command is not an error. */
	static const struct {
		const char *verb;
		enum hash_algo algo; /* HASH_ALGO_COUNT: from the reply */
		size_t hexlen;       /* 0: from the reply */
	} methods[] = {
		{ "*XSHA256", HASH_SHA256, 64 },
		{ "*HASH", HASH_ALGO_COUNT, 0 },
		{ "*XMD5", HASH_MD5, 32 },
	};

	for (int i = 0; i < 3 && c->hash_method != 3; i++) {
		const char *replies;
		int found;

		if (c->hash_method >= 0 && c->hash_method != i)
			continue;
		if (ask_cmds(c, "verify",
		        (struct cmd){ methods[i].verb, qpath, NULL }, none,
		        res) < 0)
			return -1;
		replies = c->replies(c->ctx);
		found = methods[i].hexlen > 0 ?
		    ftpreply_find_hex(replies, "250 ", methods[i].hexlen, hex) :
		    ftpreply_find_hash(replies, algo, hex);
		if (found) {
			if (methods[i].algo != HASH_ALGO_COUNT)
				*algo = methods[i].algo;
			c->hash_method = i;
			return 1;
		}
	}
	c->hash_method = 3; /* none: size from now on */
	return 0;
}

int
ftpc_verify_hash(
    struct ftpc *c, int fd, const char *tmp, struct push_result *res)
{
	char want[HASH_HEX_MAX], got[HASH_HEX_MAX];
	enum hash_algo algo = HASH_SHA256;
	int digest = c->sftp ?
	    0 :
	    ftpc_digest(c, ftpc_quote_path(c, tmp, 0), &algo, got, res);

	if (digest < 0)
		return -1;
	if (digest == 0) {
		res->fell_back = 1;
		return 0;
	}
	if (hash_fd(fd, algo, 0, UINT64_MAX, c->stop, want) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "verify: cannot read the local file");
		return -1;
	}
	res->verify_used = "hash";
	if (strcmp(want, got) != 0) {
		res->mismatch = 1;
		snprintf(res->error, sizeof(res->error),
		    "verify: %s differs (target %s, ours %s)", hash_name(algo),
		    got, want);
		return -1;
	}
	return 0;
}

/* One prepared command (quote.h) as its own request: 0 done, 1 the
 * target refused it, -1 the connection failed; res->error either way. */
static int
ask_one(struct ftpc *c, const char *cmd, struct push_result *res)
{
	struct buf cmds;
	int rc;

	ftpc_cmds_init(&cmds);
	if (buf_add(&cmds, cmd, strlen(cmd) + 1) < 0) {
		buf_free(&cmds);
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	rc = c->ask(c->ctx, &cmds, "set time", res);
	buf_free(&cmds);
	if (rc == 0)
		return 0;
	return res->refused ? 1 : -1;
}

/* Whether "MDTM path" now answers when (a 213 to MDTM TIME path or to
 * SITE UTIME may also come from a server that did something else). */
static int
time_reads_back(struct ftpc *c, const char *when, const char *path)
{
	char cmd[RFTP_PATH_MAX + 1200], got[HASH_HEX_MAX];
	struct push_result res;

	memset(&res, 0, sizeof(res));
	if (quote_command(cmd, sizeof(cmd), QUOTE_FTP, "MDTM", path, NULL) !=
	        QUOTE_OK ||
	    ask_one(c, cmd, &res) != 0)
		return 0;
	return ftpreply_find_hex(c->replies(c->ctx), "213 ", 14, got) &&
	    strcmp(got, when) == 0;
}

static const char no_way[] =
    "no MFMT in FEAT, no SITE UTIME, no MDTM with a time";

/*
 * ask_one for a method being tried: a refusal is the expected answer of
 * many targets (vsftpd: "500 Unknown SITE command."), and a refused QUOTE
 * command makes libcurl close the connection, so each worker logged in
 * once more for it. Asked with the star where the request's last reply
 * is the command's own, and its code read here. 0, 1 or -1 as ask_one.
 */
static int
try_one(struct ftpc *c, const char *cmd, struct push_result *res)
{
	char star[2 * RFTP_PATH_MAX + 2401], said[200];
	size_t n = strlen(cmd);
	int code, rc;

	if (!c->ask_ends_replies || n + 2 > sizeof(star))
		return ask_one(c, cmd, res);
	star[0] = '*';
	memcpy(star + 1, cmd, n + 1);
	rc = ask_one(c, star, res);
	if (rc != 0)
		return rc;
	/* A new connection whose login folder is not named from "/"
	 * (walked to after the command): ask it plainly. */
	if (!c->ask_ends_replies)
		return ask_one(c, cmd, res);
	code = ftpreply_last(c->replies(c->ctx), said, sizeof(said));
	if (code > 0 && code < 400)
		return 0;
	res->refused = 1;
	snprintf(res->error, sizeof(res->error), "set time: %s",
	    code > 0 ? said : "no answer");
	return 1;
}

/* Sets the time with the method learnt before. */
static enum time_result
set_time_known(
    struct ftpc *c, const char *when, const char *path, struct push_result *res)
{
	char cmd[2 * RFTP_PATH_MAX + 2400];

	if (quote_time_command(cmd, sizeof(cmd), c->time_method, when, path) !=
	    QUOTE_OK) {
		snprintf(
		    res->error, sizeof(res->error), "set time: path too long");
		return TIME_REFUSED;
	}
	switch (ask_one(c, cmd, res)) {
	case 0:
		return TIME_SET;
	case 1:
		return TIME_REFUSED;
	}
	return TIME_FAILED;
}

/* Learns how the target sets a time (FTP), setting it on the way. */
static enum time_result
set_time_learn(
    struct ftpc *c, const char *when, const char *full, struct push_result *res)
{
	/* The FTP methods in the order they are tried (MFMT only if FEAT
	 * lists it); a method that needs verify is read back once. */
	static const struct {
		enum time_method m;
		int verify;
	} ftp_methods[] = {
		{ TM_MFMT, 0 },
		{ TM_SITE_UTIME, 1 },
		{ TM_MDTM, 1 },
	};
	char cmd[2 * RFTP_PATH_MAX + 2400];
	const char *path;
	int has_mfmt, rc;

	/* FEAT (RFC 2389) says whether MFMT is there. A fresh connection
	 * learns its login folder here, which FTP paths start from. */
	if (ask_one(c, "*FEAT", res) != 0)
		return TIME_FAILED;
	path = ftpc_quote_path(c, full, 0);
	has_mfmt = ftpreply_feat_lists(c->replies(c->ctx), "MFMT");
	for (size_t i = 0; i < sizeof(ftp_methods) / sizeof(ftp_methods[0]);
	     i++) {
		enum time_method m = ftp_methods[i].m;

		if (m == TM_MFMT && !has_mfmt)
			continue;
		if (quote_time_command(cmd, sizeof(cmd), m, when, path) !=
		    QUOTE_OK) {
			snprintf(res->error, sizeof(res->error),
			    "set time: path too long");
			return TIME_REFUSED;
		}
		rc = try_one(c, cmd, res);
		if (rc < 0)
			return TIME_FAILED;
		if (rc == 0 &&
		    (!ftp_methods[i].verify ||
		        time_reads_back(c, when, path))) {
			c->time_method = m;
			return TIME_SET;
		}
	}
	c->time_method = TM_NONE;
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	snprintf(res->error, sizeof(res->error), "%s", no_way);
	return TIME_CANNOT;
}

enum time_result
ftpc_set_time(
    struct ftpc *c, const char *rpath, time_t mtime, struct push_result *res)
{
	char full[FTPC_FULL_MAX], when[16];
	struct tm tm;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (ftpc_path_fits(c, rpath, res) < 0)
		return TIME_REFUSED;
	if (gmtime_r(&mtime, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm) != 14) {
		snprintf(res->error, sizeof(res->error),
		    "set time: %lld is not a time FTP can say",
		    (long long)mtime);
		return TIME_REFUSED;
	}
	if (ftpc_join(full, sizeof(full), c->base, rpath, res) < 0)
		return TIME_REFUSED;
	switch (c->time_method) {
	case TM_NONE:
		snprintf(res->error, sizeof(res->error), "%s", no_way);
		return TIME_CANNOT;
	case TM_UNKNOWN:
		return set_time_learn(c, when, full, res);
	case TM_MFMT:
	case TM_SITE_UTIME:
	case TM_MDTM:
	case TM_SFTP:
		break;
	}
	return set_time_known(c, when, ftpc_quote_path(c, full, 0), res);
}
