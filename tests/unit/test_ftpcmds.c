/*
 * test_ftpcmds.c - the command lists of the libcurl transport
 * (mirror/ftpcmds.h), sent to a scripted fake target instead of libcurl.
 *
 * Asserts the exact commands a target receives, request by request: the
 * login folder and URL folder in front of every FTP name; RNFR and RNTO in
 * one request, with the final name's SIZE checked; SFTP names quoted; a name with CR/LF or a path too long
 * refused before anything is sent; a time method (MFMT, SITE UTIME, MDTM)
 * and a digest command learnt once and then used alone; a dead link told
 * from a refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/ftpcmds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQ 32

/* One scripted answer: 0 done; 1 refused; -1 link failure. */
struct answer {
	int rc;
	const char *replies;
};

struct fake {
	char sent[MAX_REQ][2048]; /* a request's commands joined by " | " */
	int nsent;
	const struct answer *script;
	int nscript, next;
	const char *replies;
	int logins;
};

static int
fake_login(void *ctx, struct push_result *res)
{
	struct fake *f = ctx;

	(void)res;
	f->logins++;
	return 0;
}

static int
fake_ask(void *ctx, const struct buf *cmds, const char *what,
    struct push_result *res)
{
	struct fake *f = ctx;
	char *out;
	struct answer a = { 0, "" };

	assert_true(f->nsent < MAX_REQ);
	out = f->sent[f->nsent++];
	out[0] = '\0';
	for (size_t off = 0; off < cmds->len;
	     off += strlen(cmds->data + off) + 1) {
		if (off > 0)
			strcat(out, " | ");
		strcat(out, cmds->data + off);
	}
	if (f->next < f->nscript)
		a = f->script[f->next++];
	f->replies = a.replies;
	if (a.rc == 0)
		return 0;
	res->refused = a.rc > 0;
	snprintf(res->error, sizeof(res->error), "%s: scripted", what);
	return -1;
}

static const char *
fake_replies(void *ctx)
{
	struct fake *f = ctx;

	return f->replies;
}

struct fixture {
	struct ftpc c;
	struct fake f;
};

/* An FTP (or SFTP) connection under URL folder /base whose login folder
 * is /home/u/ (FTP), with the script answering its requests. */
static struct fixture *
setup_conn(int sftp, const struct answer *script, int n)
{
	struct fixture *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	ftpc_init(&x->c, sftp);
	x->c.ctx = &x->f;
	x->c.login = fake_login;
	x->c.ask = fake_ask;
	x->c.replies = fake_replies;
	strcpy(x->c.base, "/base");
	ftpc_set_entry(&x->c, "/home/u/");
	x->c.ask_ends_replies = 1; /* as transport_curl.c run_quote's */
	x->f.script = script;
	x->f.nscript = n;
	return x;
}

static void
test_delete_ftp_names_from_login_folder(void **state)
{
	struct fixture *x = setup_conn(0, NULL, 0);
	struct push_result res;

	(void)state;
	assert_int_equal(ftpc_delete(&x->c, "/al ice/-rf \"*%.txt", &res), 0);
	assert_int_equal(x->f.nsent, 1);
	assert_string_equal(
	    x->f.sent[0], "*DELE /home/u/base/al ice/-rf \"*%.txt");
	assert_int_equal(x->f.logins, 1);
	assert_int_equal(res.kept, 0);
	free(x);
}

/* A DELE or RMD refused while the name stays: success for the callers
 * that leave it, with kept and the target's words for the jobs. Asked
 * only after a refusal, on the same connection. */
static void
test_removal_kept_is_told(void **state)
{
	static const struct answer script[] = {
		/* refused, a file still there (a fresh connection's login
		 * replies first: the reason is the DELE's, not theirs) */
		{ 0,
		    "504 AUTH TLS no.\r\n230 Login ok.\r\n"
		    "550 Permission denied.\r\n" },
		{ 0,
		    "200 Type set to: Binary.\r\n213 700\r\n"
		    "250-Listing\r\n type=file;size=700; /f\r\n250 End.\r\n" },
		/* not there */
		{ 0, "550 No such file or directory.\r\n" },
		{ 0, "200 Type set.\r\n550 No such file.\r\n550 No.\r\n" },
		/* deleted: no question asked */
		{ 0, "250 File removed.\r\n" },
		/* a folder that SIZE answers (ftpserverlib before 2024) */
		{ 0, "550 Is a directory.\r\n" },
		{ 0,
		    "200 Type set.\r\n213 4096\r\n250-Listing\r\n"
		    " type=dir; /d\r\n250 End.\r\n" },
		/* RMD: a folder still there */
		{ 0, "550 Directory not empty.\r\n" },
		{ 0,
		    "250-Listing /b\r\n"
		    " type=dir;modify=20261204120000; /home/u/base/d\r\n"
		    "250 End MLST.\r\n" },
		/* removed */
		{ 0, "250 Directory removed.\r\n" },
		/* no MLST (vsftpd): left as it was, not known kept */
		{ 0, "550 Not empty.\r\n" },
		{ 0, "500 Unknown command.\r\n" },
	};
	struct fixture *x = setup_conn(0, script, 12);
	struct push_result res;

	(void)state;
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), 0);
	assert_int_equal(res.kept, 1);
	assert_non_null(strstr(res.error, "(it said: 550 Permission denied.)"));
	assert_int_equal(x->f.nsent, 2);
	assert_string_equal(x->f.sent[1],
	    "*TYPE I | *SIZE /home/u/base/f | *MLST /home/u/base/f");
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), 0);
	assert_int_equal(res.kept, 0);
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), 0);
	assert_int_equal(res.kept, 0);
	assert_int_equal(x->f.nsent, 5);
	assert_int_equal(ftpc_delete(&x->c, "/d", &res), 0);
	assert_int_equal(res.kept, 0);
	assert_int_equal(ftpc_rmdir(&x->c, "/d", &res), 0);
	assert_string_equal(x->f.sent[7], "*RMD /home/u/base/d");
	assert_string_equal(x->f.sent[8], "*MLST /home/u/base/d");
	assert_int_equal(res.kept, 1);
	assert_non_null(strstr(res.error, "550 Directory not empty."));
	assert_int_equal(ftpc_rmdir(&x->c, "/d", &res), 0);
	assert_int_equal(res.kept, 0);
	assert_int_equal(x->f.nsent, 10);
	assert_int_equal(ftpc_rmdir(&x->c, "/d", &res), 0);
	assert_int_equal(res.kept, 0);
	free(x);
}

/* MLST of a folder the target describes. */
#define PARENT_MLST                                                         \
	"250- Listing\r\n type=dir;modify=20261204120000; /home/u/base\r\n" \
	"250 End.\r\n"

/* "Not now" (450), a question the link cut, and replies that may end
 * with a CWD's (a login folder not named from "/"). A 450 is asked again
 * unless the target says the name is not there. */
static void
test_removal_not_now_or_unknown(void **state)
{
	static const struct answer script[] = {
		/* busy, and there: asked again */
		{ 0, "450 File busy.\r\n" },
		{ 0, "200 Type set.\r\n213 7\r\n500 Unknown command.\r\n" },
		/* 450 for a name not there, in a folder the target
		 * describes: done */
		{ 0, "450 No such file.\r\n" },
		{ 0,
		    "200 Type set.\r\n550 No such file.\r\n"
		    "550 No such file.\r\n" },
		{ 0, PARENT_MLST },
		/* the same, from an account that may not list: a 550 for
		 * the folder too tells nothing, asked again */
		{ 0, "450 Busy.\r\n" },
		{ 0,
		    "200 Type set.\r\n550 Not enough privileges.\r\n"
		    "550 Not enough privileges.\r\n" },
		{ 0, "550 Not enough privileges.\r\n" },
		/* no MLST to tell: asked again */
		{ 0, "450 No such file.\r\n" },
		{ 0,
		    "200 Type set.\r\n550 No such file.\r\n"
		    "500 Unknown command.\r\n" },
		/* a folder not there */
		{ 0, "450 No such folder.\r\n" },
		{ 0, "550 No such folder.\r\n" },
		{ 0, PARENT_MLST },
		{ 0, "550 Permission denied.\r\n" },
		{ -1, "" },
		/* a CWD's 250 after the refusal: still asked */
		{ 0, "550 Permission denied.\r\n250 CWD ok.\r\n" },
		{ 0, "200 Type set.\r\n213 7\r\n500 Unknown command.\r\n" },
		{ 0, "450 No such file.\r\n250 CWD ok.\r\n" },
		{ 0,
		    "200 Type set.\r\n550 No such file.\r\n"
		    "550 No such file.\r\n250 CWD ok.\r\n" },
		{ 0, PARENT_MLST "250 CWD ok.\r\n" },
		/* a name in a folder removed on the target: its folder's
		 * folder tells */
		{ 0, "450 No such file.\r\n" },
		{ 0,
		    "200 Type set.\r\n550 No such file.\r\n"
		    "550 No such file.\r\n" },
		{ 0, "550 No such folder.\r\n" },
		{ 0, PARENT_MLST },
	};
	struct fixture *x = setup_conn(0, script, 24);
	struct push_result res;

	(void)state;
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), -1);
	assert_int_equal(res.file_refused, 1);
	assert_int_equal(res.kept, 0);
	assert_non_null(strstr(res.error, "450 File busy."));
	assert_int_equal(x->f.nsent, 2);
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), 0);
	assert_int_equal(res.kept, 0);
	assert_int_equal(res.refused, 0);
	assert_string_equal(x->f.sent[4], "*MLST /home/u/base");
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), -1);
	assert_int_equal(res.file_refused, 1);
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), -1);
	assert_int_equal(res.file_refused, 1);
	assert_int_equal(ftpc_rmdir(&x->c, "/d", &res), 0);
	assert_int_equal(res.kept, 0);
	assert_int_equal(res.refused, 0);
	assert_int_equal(x->f.nsent, 13);
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), -1);
	assert_int_equal(res.kept, 0);
	assert_int_equal(res.refused, 0);
	x->c.ask_ends_replies = 0;
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), 0);
	assert_int_equal(res.kept, 1);
	assert_non_null(strstr(res.error, "(it said: 550 Permission denied.)"));
	assert_int_equal(ftpc_delete(&x->c, "/f", &res), 0);
	assert_int_equal(res.kept, 0);
	assert_int_equal(res.refused, 0);
	x->c.ask_ends_replies = 1;
	assert_int_equal(ftpc_delete(&x->c, "/d/f", &res), 0);
	assert_int_equal(res.refused, 0);
	assert_string_equal(x->f.sent[x->f.nsent - 2], "*MLST /home/u/base/d");
	assert_string_equal(x->f.sent[x->f.nsent - 1], "*MLST /home/u/base");
	free(x);
}

static void
test_rename_one_request(void **state)
{
	struct fixture *x = setup_conn(0, NULL, 0);
	struct fixture *y = setup_conn(1, NULL, 0);
	struct push_result res;

	(void)state;
	assert_int_equal(ftpc_rename(&x->c, "/u/a", "/u/b c", &res), 0);
	assert_int_equal(x->f.nsent, 1);
	assert_string_equal(
	    x->f.sent[0], "RNFR /home/u/base/u/a | RNTO /home/u/base/u/b c");
	assert_int_equal(ftpc_rename(&y->c, "/u/a\"", "/u/b", &res), 0);
	assert_string_equal(
	    y->f.sent[0], "rename \"/base/u/a\\\"\" \"/base/u/b\"");
	free(x);
	free(y);
}

static void
test_unsayable_and_too_long_never_sent(void **state)
{
	struct fixture *x = setup_conn(0, NULL, 0);
	struct push_result res;
	char *longp = malloc(RFTP_PATH_MAX + 2);

	(void)state;
	assert_int_equal(ftpc_delete(&x->c, "/u/a\r\nDELE /etc", &res), -1);
	assert_int_equal(x->f.nsent, 0);
	assert_non_null(strstr(res.error, "DELE"));
	longp[0] = '/';
	memset(longp + 1, 'x', RFTP_PATH_MAX);
	longp[RFTP_PATH_MAX + 1] = '\0';
	assert_int_equal(ftpc_rmdir(&x->c, longp, &res), -1);
	assert_non_null(strstr(res.error, "path too long"));
	assert_int_equal(ftpc_rename(&x->c, "/a", longp, &res), -1);
	assert_int_equal(x->f.nsent, 0);
	/* Only the CR/LF name got as far as the login: the long ones were
	 * refused before it. */
	assert_int_equal(x->f.logins, 1);
	free(longp);
	free(x);
}

static void
test_publish_sftp_removes_then_renames(void **state)
{
	struct fixture *x = setup_conn(1, NULL, 0);
	struct push_result res;

	(void)state;
	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), 0);
	assert_string_equal(x->f.sent[0],
	    "*rm \"/base/u/f\" | rename \"/base/u/.rftpd-tmp.7.f\" "
	    "\"/base/u/f\"");
	assert_int_equal(ftpc_discard(&x->c, "/u/f", 7), 0);
	assert_string_equal(x->f.sent[1], "*rm \"/base/u/.rftpd-tmp.7.f\"");
	free(x);
}

/* An FTP publish asks the final name's SIZE in the rename's request: an
 * RNTO answered 250 that renamed nothing is a failed push (found from
 * outside: it was recorded delivered), and so is a size that differs or
 * is not a size. A refused SIZE is asked once more in binary, then of the
 * temporary name: still there, the rename did not happen; gone too, the
 * target took the file away at once (a drop box): delivered. */
static void
test_publish_ftp_checks_the_final_size(void **state)
{
	static const char ren[] = "RNFR /home/u/base/u/.rftpd-tmp.7.f | "
	                          "RNTO /home/u/base/u/f | "
	                          "*SIZE /home/u/base/u/f";
	static const struct answer script[] = {
		{ 0, "350 ok\r\n250 ok\r\n213 5\r\n" },
		/* renamed nothing: the final name is not there, the
		 * temporary one is */
		{ 0, "350 ok\r\n250 ok\r\n550 No such file.\r\n" },
		{ 0, "200 Type set to I.\r\n550 No such file.\r\n" },
		{ 0, "213 5\r\n" },
		/* another size; not a size */
		{ 0, "350 ok\r\n250 ok\r\n213 3\r\n" },
		{ 0, "350 ok\r\n250 ok\r\n213 -5\r\n" },
		/* SIZE refused in ASCII on a fresh connection, then told */
		{ 0,
		    "350 ok\r\n250 ok\r\n550 SIZE not allowed in ASCII "
		    "mode.\r\n" },
		{ 0, "200 Type set to I.\r\n213 5\r\n" },
		/* the link failed during the rename */
		{ -1, "350 ok\r\n" },
		/* a drop box: both names gone once renamed */
		{ 0, "350 ok\r\n250 ok\r\n550 No such file.\r\n" },
		{ 0, "200 Type set to I.\r\n550 No such file.\r\n" },
		{ 0, "550 No such file.\r\n" },
	};
	struct fixture *x = setup_conn(0, script, 12);
	struct push_result res;

	(void)state;
	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), 0);
	assert_int_equal(x->f.nsent, 1);
	assert_string_equal(x->f.sent[0], ren);

	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), -1);
	assert_int_equal(x->f.nsent, 4);
	assert_string_equal(x->f.sent[2], "*TYPE I | *SIZE /home/u/base/u/f");
	assert_string_equal(
	    x->f.sent[3], "*SIZE /home/u/base/u/.rftpd-tmp.7.f");
	assert_int_equal(res.mismatch, 1);
	assert_non_null(strstr(res.error, "still under its temporary name"));

	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), -1);
	assert_int_equal(res.mismatch, 1);
	assert_non_null(strstr(res.error, "holds 3 bytes"));
	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), -1);
	assert_non_null(
	    strstr(res.error, "not a size (the target said: 213 -5)"));
	assert_int_equal(x->f.nsent, 6);

	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), 0);
	assert_int_equal(x->f.nsent, 8);

	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), -1);
	assert_int_equal(res.mismatch, 0);
	assert_int_equal(x->f.nsent, 9);

	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, 5, &res), 0);
	assert_int_equal(x->f.nsent, 12);

	/* Not verified (verify = none: the target may refuse SIZE): the
	 * rename alone, as before. */
	memset(&res, 0, sizeof(res));
	assert_int_equal(ftpc_publish(&x->c, "/u/f", 7, -1, &res), 0);
	assert_string_equal(x->f.sent[12],
	    "RNFR /home/u/base/u/.rftpd-tmp.7.f | RNTO /home/u/base/u/f");
	free(x);
}

static void
test_time_learns_mdtm_after_utime_lies(void **state)
{
	static const struct answer script[] = {
		{ 0, "211-Features:\r\n SIZE\r\n MDTM\r\n211 End\r\n" },
		{ 0, "200 ok\r\n" },             /* SITE UTIME */
		{ 0, "213 19990101000000\r\n" }, /* read back: not it */
		{ 0, "213 ok\r\n" },             /* MDTM TIME path */
		{ 0, "213 20240102030405\r\n" }, /* read back: it */
		{ 0, "213 ok\r\n" },             /* the next file */
	};
	struct fixture *x = setup_conn(0, script, 6);
	struct push_result res;
	time_t t = 1704164645; /* 2024-01-02 03:04:05 UTC */

	(void)state;
	assert_int_equal(ftpc_set_time(&x->c, "/u/f", t, &res), TIME_SET);
	assert_int_equal(x->f.nsent, 5);
	assert_string_equal(x->f.sent[0], "*FEAT");
	/* The methods tried with the star: a refusal must not close the
	 * connection (libcurl does for a refused QUOTE command). */
	assert_string_equal(x->f.sent[1],
	    "*SITE UTIME /home/u/base/u/f 20240102030405 20240102030405 "
	    "20240102030405 UTC");
	assert_string_equal(x->f.sent[2], "MDTM /home/u/base/u/f");
	assert_string_equal(
	    x->f.sent[3], "*MDTM 20240102030405 /home/u/base/u/f");
	assert_int_equal(ftpc_set_time(&x->c, "/u/g", t, &res), TIME_SET);
	assert_int_equal(x->f.nsent, 6);
	assert_string_equal(
	    x->f.sent[5], "MDTM 20240102030405 /home/u/base/u/g");
	free(x);
}

static void
test_time_mfmt_from_feat_and_cannot(void **state)
{
	static const struct answer mfmt[] = {
		{ 0, "211-Features:\r\n MFMT\r\n211 End\r\n" },
		{ 0, "213 Modify=20240102030405; /x\r\n" },
	};
	static const struct answer none[] = {
		{ 0, "211-Features:\r\n SIZE\r\n211 End\r\n" },
		{ 1, "500 no\r\n" },
		{ 1, "500 no\r\n" },
	};
	/* As libcurl answers a starred command: done, the refusal only in
	 * the reply (vsftpd: "500 Unknown SITE command."). */
	static const struct answer starred[] = {
		{ 0, "211-Features:\r\n SIZE\r\n211 End\r\n" },
		{ 0, "500 Unknown SITE command.\r\n" },
		{ 0, "550 Permission denied.\r\n" },
	};
	struct fixture *x = setup_conn(0, mfmt, 2);
	struct fixture *y = setup_conn(0, none, 3);
	struct fixture *z = setup_conn(0, starred, 3);
	struct push_result res;

	(void)state;
	assert_int_equal(
	    ftpc_set_time(&x->c, "/u/f", 1704164645, &res), TIME_SET);
	assert_int_equal(x->f.nsent, 2);
	assert_string_equal(
	    x->f.sent[1], "*MFMT 20240102030405 /home/u/base/u/f");
	assert_int_equal(
	    ftpc_set_time(&y->c, "/u/f", 1704164645, &res), TIME_CANNOT);
	assert_int_equal(y->f.nsent, 3);
	assert_int_equal(
	    ftpc_set_time(&y->c, "/u/f", 1704164645, &res), TIME_CANNOT);
	assert_int_equal(y->f.nsent, 3); /* learnt: nothing asked */
	assert_int_equal(
	    ftpc_set_time(&z->c, "/u/f", 1704164645, &res), TIME_CANNOT);
	assert_int_equal(z->f.nsent, 3);
	free(x);
	free(y);
	free(z);
}

static void
test_time_dead_link_and_refusal(void **state)
{
	static const struct answer dead[] = { { -1, "" } };
	static const struct answer sftp[] = { { 1, "" }, { -1, "" } };
	struct fixture *x = setup_conn(0, dead, 1);
	struct fixture *y = setup_conn(1, sftp, 2);
	struct push_result res;

	(void)state;
	assert_int_equal(ftpc_set_time(&x->c, "/u/f", 0, &res), TIME_FAILED);
	assert_int_equal(x->c.time_method, TM_UNKNOWN);
	assert_int_equal(ftpc_set_time(&y->c, "/u/f", 0, &res), TIME_REFUSED);
	assert_string_equal(
	    y->f.sent[0], "mtime \"19700101 00:00:00 +0000\" \"/base/u/f\"");
	assert_int_equal(ftpc_set_time(&y->c, "/u/f", 0, &res), TIME_FAILED);
	free(x);
	free(y);
}

static void
test_digest_learnt_once(void **state)
{
	static const struct answer script[] = {
		{ 0, "500 XSHA256 unknown\r\n" },
		{ 0, "500 HASH unknown\r\n" },
		{ 0, "250 0123456789ABCDEF0123456789abcdef\r\n" },
		{ 0, "250 ffffffffffffffffffffffffffffffff\r\n" },
	};
	struct fixture *x = setup_conn(0, script, 4);
	struct push_result res;
	enum hash_algo algo = HASH_SHA256;
	char hex[HASH_HEX_MAX];

	(void)state;
	assert_int_equal(ftpc_digest(&x->c, "/q p", &algo, hex, &res), 1);
	assert_int_equal(algo, HASH_MD5);
	assert_string_equal(hex, "0123456789abcdef0123456789abcdef");
	assert_int_equal(x->f.nsent, 3);
	assert_string_equal(x->f.sent[0], "*XSHA256 /q p");
	assert_string_equal(x->f.sent[1], "*HASH /q p");
	assert_string_equal(x->f.sent[2], "*XMD5 /q p");
	assert_int_equal(ftpc_digest(&x->c, "/q p", &algo, hex, &res), 1);
	assert_int_equal(x->f.nsent, 4);
	assert_string_equal(x->f.sent[3], "*XMD5 /q p");
	free(x);
}

static void
test_unknown_login_folder_refuses_ftp_names(void **state)
{
	struct fixture *x = setup_conn(0, NULL, 0);
	struct push_result res;

	(void)state;
	ftpc_init(&x->c, 0); /* login folder not learnt */
	x->c.ctx = &x->f;
	x->c.login = fake_login;
	x->c.ask = fake_ask;
	x->c.replies = fake_replies;
	assert_null(ftpc_quote_path(&x->c, "/a", 0));
	assert_int_equal(ftpc_delete(&x->c, "/a", &res), -1);
	assert_int_equal(x->f.nsent, 0);
	free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delete_ftp_names_from_login_folder),
		cmocka_unit_test(test_removal_kept_is_told),
		cmocka_unit_test(test_removal_not_now_or_unknown),
		cmocka_unit_test(test_rename_one_request),
		cmocka_unit_test(test_unsayable_and_too_long_never_sent),
		cmocka_unit_test(test_publish_sftp_removes_then_renames),
		cmocka_unit_test(test_publish_ftp_checks_the_final_size),
		cmocka_unit_test(test_time_learns_mdtm_after_utime_lies),
		cmocka_unit_test(test_time_mfmt_from_feat_and_cannot),
		cmocka_unit_test(test_time_dead_link_and_refusal),
		cmocka_unit_test(test_digest_learnt_once),
		cmocka_unit_test(test_unknown_login_folder_refuses_ftp_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
